"""Background work of flows: advancing runs (after a customer message, at a timer, after a
takeover) and the beat job that resumes due timers and starts inactivity flows per tenant."""

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from config.celery import tenant_task
from flows import services
from flows.models import Flow, FlowRun


@tenant_task(acks_late=True)
def flow_run_advance_task(*, run_id: int, tenant_id: int):
    run = services.flow_run_advance(run_id=run_id)
    return run.status if run else None


@tenant_task
def flow_runs_stop_task(*, ticket_id: int, tenant_id: int):
    return services.flow_runs_stop(ticket_id=ticket_id)


@tenant_task
def flows_tick_task(*, tenant_id: int):
    return {"resumed": services.flow_runs_resume_due(), "started": services.flows_inactivity_start()}


@shared_task(name="flows.tick")
def flows_tick() -> int:
    """Every minute: one task per tenant with a due timer or an active inactivity flow."""
    now = timezone.now()
    due = FlowRun.all_tenants.filter(
        status=FlowRun.Status.WAITING, awaiting=FlowRun.Awaiting.TIMER, wait_until__lte=now, tenant__is_active=True
    ).values_list("tenant_id", flat=True)
    inactivity = Flow.all_tenants.filter(
        Q(trigger_type=Flow.Trigger.INACTIVITY), is_active=True, tenant__is_active=True
    ).values_list("tenant_id", flat=True)
    tenant_ids = sorted(set(due) | set(inactivity))
    for tenant_id in tenant_ids:
        flows_tick_task.delay(tenant_id=tenant_id)
    return len(tenant_ids)
