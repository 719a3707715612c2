"""Reads of campaigns: lists, recipients, counts and rates, progress over time."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDay, TruncHour, TruncMinute

from campaigns.models import Campaign, CampaignRecipient, RecipientStatus
from tenants.models import Tenant

BUCKETS = {"minute": TruncMinute, "hour": TruncHour, "day": TruncDay}


def campaign_list(*, tenant: Tenant) -> QuerySet[Campaign]:
    return (
        Campaign.objects.filter(tenant=tenant)
        .select_related("connection", "template")
        .prefetch_related("audience_tags")
    )


def recipient_list(*, campaign: Campaign, status: str | None = None) -> QuerySet[CampaignRecipient]:
    queryset = CampaignRecipient.objects.filter(campaign=campaign).select_related("contact").order_by("id")
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def campaign_counts(*, campaign: Campaign) -> dict[str, int]:
    """Recipients per current status, plus `total` and `opted_out` — one query."""
    aggregates = {status: Count("id", filter=Q(status=status)) for status in RecipientStatus.values}
    row = CampaignRecipient.objects.filter(campaign=campaign).aggregate(
        total=Count("id"), opted_out=Count("id", filter=Q(opted_out_at__isnull=False)), **aggregates
    )
    return row


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def campaign_stats(*, campaign: Campaign, bucket: str = "hour") -> dict:
    """Counts per status; how many reached each step (a read message was also delivered and sent);
    rates over the messages sent; and the steps per `bucket` (minute/hour/day) over time."""
    counts = campaign_counts(campaign=campaign)
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    reached = recipients.aggregate(
        sent=Count("id", filter=Q(sent_at__isnull=False)),
        delivered=Count("id", filter=Q(delivered_at__isnull=False)),
        read=Count("id", filter=Q(read_at__isnull=False)),
        replied=Count("id", filter=Q(replied_at__isnull=False)),
        failed=Count("id", filter=Q(status=RecipientStatus.FAILED)),
    )
    sent = reached["sent"]
    trunc = BUCKETS.get(bucket, TruncHour)
    timeline: dict[str, dict[str, int]] = {}
    for step in ("sent", "delivered", "read", "replied", "failed"):
        field = f"{step}_at"
        rows = (
            recipients.filter(**{f"{field}__isnull": False})
            .annotate(at=trunc(field))
            .values("at")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in rows:
            timeline.setdefault(row["at"].isoformat(), {}).setdefault(step, row["n"])
    return {
        "status": campaign.status,
        "counts": counts,
        "reached": reached,
        "rates": {
            "delivered": _rate(reached["delivered"], sent),
            "read": _rate(reached["read"], sent),
            "replied": _rate(reached["replied"], sent),
            "failed": _rate(reached["failed"], counts["total"]),
            "opted_out": _rate(counts["opted_out"], sent),
        },
        "progress": _rate(counts["total"] - counts["pending"] - counts["sending"], counts["total"]) or 0.0,
        "timeline": [
            {"at": at, **{step: n.get(step, 0) for step in ("sent", "delivered", "read", "replied", "failed")}}
            for at, n in sorted(timeline.items())
        ],
        "bucket": bucket if bucket in BUCKETS else "hour",
    }
