"""`campaign.updated` to the tenant's admins and supervisors: on every state change, and while a
campaign sends or its messages are delivered and read, at most once a second per campaign."""

from __future__ import annotations

from config.redis import get_redis
from tickets import events as ticket_events

PROGRESS_EVERY_MS = 1000


def _data(campaign) -> dict:
    from campaigns.selectors import campaign_counts

    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "next_run_at": campaign.next_run_at.isoformat() if campaign.next_run_at else None,
        "counts": campaign_counts(campaign=campaign),
    }


def campaign_updated(campaign) -> None:
    ticket_events.publish({ticket_events.staff_group(campaign.tenant_id)}, "campaign.updated", _data(campaign))


def campaign_progress(campaign) -> None:
    """Coalesces bursts of changes (thousands of sends and acks) into one event a second."""
    if get_redis().set(f"prosa:campaign:{campaign.pk}:progress", 1, nx=True, px=PROGRESS_EVERY_MS):
        campaign_updated(campaign)
