"""Background work of the inbound pipeline. Thin: each task calls one service inside its tenant."""

from config.celery import tenant_task


@tenant_task(name="whatsapp.process_inbound_event")
def process_inbound_event_task(*, event_id: int, tenant_id: int) -> str | None:
    from whatsapp.inbound import inbound_event_process

    return inbound_event_process(event_id=event_id)


@tenant_task(name="whatsapp.download_media")
def download_media_task(*, message_id: int, tenant_id: int) -> None:
    from tickets.inbound import message_media_download

    message_media_download(message_id=message_id)
