"""Background work of the AI domain: summaries of closed tickets, for the tenants that ask for them.

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
