"""Background work of campaigns.

`campaign_dispatch_task` sends one running campaign for a while (campaigns.dispatch) and hands
over to a fresh task when its time budget runs out. The beat job every minute starts scheduled
campaigns that are due and restarts running ones that have work and no worker (after a crash, or
when the sending window opens again). Template sync runs every 6 hours per Cloud connection.
"""

import logging

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from campaigns import services
from campaigns.dispatch import campaign_dispatch
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from config.celery import tenant_task

logger = logging.getLogger(__name__)


@tenant_task(acks_late=True)
def campaign_dispatch_task(*, campaign_id: int, tenant_id: int):
    services.campaign_start_if_due(campaign_id=campaign_id)
    result = campaign_dispatch(campaign_id=campaign_id)
    if result.outcome == "budget":
        campaign_dispatch_task.delay(campaign_id=campaign_id, tenant_id=tenant_id)
    return result.outcome


@tenant_task
def campaigns_resume_due_task(*, tenant_id: int, campaign_ids: list[int]):
    for campaign_id in campaign_ids:
        services.campaign_start_if_due(campaign_id=campaign_id)
        campaign = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING).first()
        if campaign is not None:
            services.enqueue_workers(campaign)


@shared_task(name="campaigns.dispatch_due")
def dispatch_due() -> int:
    """Every minute: scheduled campaigns whose time came, and running ones with rows to send
    whose window is open (or that lost their worker), get workers — one task per tenant."""
    now = timezone.now()
    due = Campaign.all_tenants.filter(tenant__is_active=True).filter(
        Q(status=CampaignStatus.SCHEDULED, scheduled_at__lte=now)
        | Q(status=CampaignStatus.RUNNING)
        & (Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
        & Q(
            pk__in=CampaignRecipient.all_tenants.filter(
                status__in=(RecipientStatus.PENDING, RecipientStatus.SENDING)
            ).values("campaign_id")
        )
    )
    by_tenant: dict[int, list[int]] = {}
    for campaign_id, tenant_id in due.values_list("pk", "tenant_id"):
        by_tenant.setdefault(tenant_id, []).append(campaign_id)
    for tenant_id, campaign_ids in sorted(by_tenant.items()):
        campaigns_resume_due_task.delay(tenant_id=tenant_id, campaign_ids=campaign_ids)
    return sum(len(ids) for ids in by_tenant.values())


@tenant_task
def templates_sync_task(*, tenant_id: int, connection_id: int):
    from whatsapp.models import Connection
    from whatsapp.providers import ProviderError
    from whatsapp.templates import templates_sync

    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        return None
    try:
        return templates_sync(connection=connection)
    except ProviderError as exc:
        logger.warning("template sync failed", extra={"connection_id": connection_id, "code": exc.code})
        return None


@shared_task(name="whatsapp.sync_templates")
def sync_templates() -> int:
    """Every 6 hours: one sync task per Cloud connection with a business account id."""
    from whatsapp.choices import Provider
    from whatsapp.models import Connection

    rows = list(
        Connection.all_tenants.filter(provider=Provider.CLOUD, tenant__is_active=True)
        .exclude(waba_id="")
        .values_list("pk", "tenant_id")
    )
    for connection_id, tenant_id in rows:
        templates_sync_task.delay(tenant_id=tenant_id, connection_id=connection_id)
    return len(rows)
