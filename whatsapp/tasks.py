"""Background work of the inbound pipeline. Thin: each task calls one service inside its tenant."""

from celery import shared_task

from config.celery import tenant_task


@tenant_task(name="whatsapp.process_inbound_event")
def process_inbound_event_task(*, event_id: int, tenant_id: int) -> str | None:
    from whatsapp.inbound import inbound_event_process

    return inbound_event_process(event_id=event_id)


@tenant_task(name="whatsapp.download_media")
def download_media_task(*, message_id: int, tenant_id: int) -> None:
    from tickets.inbound import message_media_download

    message_media_download(message_id=message_id)


@tenant_task(name="whatsapp.retry_inbound_events")
def retry_inbound_events_task(*, tenant_id: int) -> int:
    from whatsapp.inbound import inbound_events_retry_due

    return inbound_events_retry_due()


@shared_task(name="whatsapp.retry_inbound_events_all")
def retry_inbound_events_all_task() -> int:
    """Beat job (every 5 minutes): one retry task per tenant that has events due."""
    from whatsapp.inbound import tenant_ids_with_events_due

    tenant_ids = tenant_ids_with_events_due()
    for tenant_id in tenant_ids:
        retry_inbound_events_task.delay(tenant_id=tenant_id)
    return len(tenant_ids)
