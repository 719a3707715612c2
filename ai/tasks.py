"""Background work of the AI domain: AI agents' turns on the tickets they hold, the automatic
transcription of voice notes, and summaries of closed tickets for the tenants that ask for them.

The beat job takes no tenant, looks at settings rows only, and fans out one tenant task per tenant.
"""

from celery import shared_task

from ai import services
from ai.models import AISettings
from config.celery import tenant_task
from tenants.context import require_current_tenant


@tenant_task
def closed_tickets_summarize_task(*, tenant_id: int) -> int:
    return services.closed_tickets_summarize(tenant=require_current_tenant())


@tenant_task(acks_late=True)
def bot_session_advance_task(*, session_id: int, tenant_id: int, unreadable_message_id: int | None = None):
    session = services.bot_session_advance(session_id=session_id, unreadable_message_id=unreadable_message_id)
    return session.status if session else None


@tenant_task
def bot_session_stop_task(*, ticket_id: int, tenant_id: int):
    session = services.bot_session_stop(ticket_id=ticket_id)
    return session.status if session else None


@tenant_task(acks_late=True)
def voice_note_transcribe_task(*, message_id: int, tenant_id: int) -> bool:
    return services.voice_note_transcribe(message_id=message_id) is not None


@shared_task(name="ai.summarize_closed_tickets")
def summarize_closed_tickets() -> int:
    """Every 5 minutes: one task per tenant whose AI summarizes tickets on close."""
    tenant_ids = sorted(
        AISettings.all_tenants.filter(summarize_on_close=True, enabled=True, tenant__is_active=True).values_list(
            "tenant_id", flat=True
        )
    )
    for tenant_id in tenant_ids:
        closed_tickets_summarize_task.delay(tenant_id=tenant_id)
    return len(tenant_ids)
