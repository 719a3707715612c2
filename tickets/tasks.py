"""Background work of the conversation domain.

Tenant tasks (`@tenant_task`, called with `tenant_id=`) do one tenant's work; the beat jobs below
them take no tenant, look at `Tenant` rows only, and fan out one tenant task per tenant.
"""

import logging

from celery import shared_task
from django.utils import timezone

from config.celery import tenant_task
from tenants.context import require_current_tenant
from tenants.models import Tenant
from tickets import services
from tickets.models import ScheduledMessage
from whatsapp.providers import ProviderError

logger = logging.getLogger(__name__)

# 1 attempt + 4 retries, 1 s, 2 s, 4 s, 8 s apart.
DELIVERY_MAX_RETRIES = 4


def delivery_countdown(retries: int) -> int:
    return 2**retries


@tenant_task(bind=True, max_retries=DELIVERY_MAX_RETRIES, acks_late=True)
def deliver_message_task(self, *, message_id: int, tenant_id: int):
    """Sends one outbound message. Transient provider errors retry with exponential backoff; a
    permanent error, or the last failed attempt, marks the message failed with the explanation."""
    try:
        services.message_deliver(message_id=message_id)
    except ProviderError as exc:
        if exc.retryable and self.request.retries < self.max_retries:
            logger.info(
                "message delivery will be retried",
                extra={"message_id": message_id, "code": exc.code, "retries": self.request.retries},
            )
            raise self.retry(countdown=delivery_countdown(self.request.retries), exc=exc) from None
        services.message_mark_failed(message_id=message_id, error=exc, attempts=self.request.retries + 1)


@tenant_task
def ticket_mark_read_task(*, ticket_id: int, tenant_id: int):
    services.ticket_notify_read(ticket_id=ticket_id)


@tenant_task
def scheduled_messages_send_due_task(*, tenant_id: int):
    return services.scheduled_messages_send_due()


@tenant_task
def waiting_tickets_assign_task(*, tenant_id: int):
    from tickets.routing import waiting_tickets_assign

    return waiting_tickets_assign()


@tenant_task
def tickets_close_idle_task(*, tenant_id: int):
    return services.tickets_close_idle(tenant=require_current_tenant())


# --- beat jobs: no tenant, fan out ------------------------------------------------------------


@shared_task(name="tickets.send_due_scheduled_messages")
def send_due_scheduled_messages() -> int:
    """Every minute: one task per tenant that has a scheduled message due."""
    tenant_ids = (
        ScheduledMessage.all_tenants.filter(
            status=ScheduledMessage.Status.SCHEDULED, send_at__lte=timezone.now(), tenant__is_active=True
        )
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    tenant_ids = sorted(set(tenant_ids))
    for tenant_id in tenant_ids:
        scheduled_messages_send_due_task.delay(tenant_id=tenant_id)
    return len(tenant_ids)


@shared_task(name="tickets.close_idle_tickets")
def close_idle_tickets() -> int:
    """Every 10 minutes: one task per tenant that closes idle tickets automatically."""
    tenant_ids = list(Tenant.objects.filter(is_active=True, auto_close_after_hours__gt=0).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        tickets_close_idle_task.delay(tenant_id=tenant_id)
    return len(tenant_ids)
