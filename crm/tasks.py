"""Background work of the contacts domain (tenant tasks: `tenant_id=` is required)."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from config.celery import tenant_task
from crm import services
from crm.models import Meeting, Task

logger = logging.getLogger(__name__)

# Meetings further away than this are not looked at by the beat job (no reminder leads by more).
MEETING_REMINDER_HORIZON = timedelta(days=8)


@tenant_task
def contact_import_process_task(*, contact_import_id: int, tenant_id: int) -> None:
    try:
        services.contact_import_process(contact_import_id=contact_import_id)
    except Exception:
        logger.exception("contact import failed", extra={"contact_import_id": contact_import_id})
        services.contact_import_fail(contact_import_id=contact_import_id, message="Unexpected error.")
        raise


@tenant_task
def task_reminders_send_task(*, tenant_id: int) -> int:
    from crm.services_agenda import task_reminders_send

    return task_reminders_send()


@tenant_task
def task_reminder_whatsapp_task(*, task_id: int, tenant_id: int) -> bool:
    from crm.services_agenda import task_reminder_whatsapp_send

    return task_reminder_whatsapp_send(task_id=task_id)


@tenant_task
def meeting_reminders_send_task(*, tenant_id: int) -> int:
    from crm.services_agenda import meeting_reminders_send

    return meeting_reminders_send()


# --- beat jobs: no tenant, fan out ------------------------------------------------------------


@shared_task(name="crm.send_task_reminders")
def send_task_reminders() -> int:
    """Every minute: one task per tenant with a task reminder due."""
    tenant_ids = sorted(
        set(
            Task.all_tenants.filter(
                done=False, reminded_at=None, remind_at__lte=timezone.now(), tenant__is_active=True
            ).values_list("tenant_id", flat=True)
        )
    )
    for tenant_id in tenant_ids:
        task_reminders_send_task.delay(tenant_id=tenant_id)
    return len(tenant_ids)


@shared_task(name="crm.send_meeting_reminders")
def send_meeting_reminders() -> int:
    """Every minute: one task per tenant with an upcoming meeting not yet reminded. (Whether its
    reminder time has come is the tenant task's question: it depends on each meeting's lead.)"""
    tenant_ids = sorted(
        set(
            Meeting.all_tenants.filter(
                status=Meeting.Status.SCHEDULED,
                reminder_sent_at=None,
                starts_at__gt=timezone.now(),
                starts_at__lte=timezone.now() + MEETING_REMINDER_HORIZON,
                tenant__is_active=True,
            ).values_list("tenant_id", flat=True)
        )
    )
    for tenant_id in tenant_ids:
        meeting_reminders_send_task.delay(tenant_id=tenant_id)
    return len(tenant_ids)
