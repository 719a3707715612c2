"""Background work of the inbound pipeline. Thin: each task calls one service inside its tenant."""

import logging
import random

from celery import shared_task

from config.celery import tenant_task
from whatsapp.providers.errors import ProviderError

logger = logging.getLogger(__name__)

# 1 attempt + 4 retries, about 10 s, 30 s, 1.5 min and 4.5 min apart: a provider outage or a
# throttled Evolution server has minutes to recover before the media is given up as failed.
MEDIA_DOWNLOAD_MAX_RETRIES = 4
MEDIA_DOWNLOAD_MAX_COUNTDOWN = 300


def media_download_countdown(retries: int) -> int:
    """Seconds before retry `retries + 1`: 10·3ⁿ, ±20 % jitter so that the downloads of one burst of
    messages do not all hit the provider again at the same second; never above 5 minutes."""
    base = 10 * 3**retries
    return min(MEDIA_DOWNLOAD_MAX_COUNTDOWN, round(base * random.uniform(0.8, 1.2)))  # noqa: S311 — not security


@tenant_task(name="whatsapp.process_inbound_event")
def process_inbound_event_task(*, event_id: int, tenant_id: int) -> str | None:
    from whatsapp.inbound import inbound_event_process

    return inbound_event_process(event_id=event_id)


@tenant_task(name="whatsapp.process_inbound_events")
def process_inbound_events_task(*, event_ids: list[int], tenant_id: int) -> None:
    """Several stored deliveries of one tenant, one after the other, each in its own transaction
    (one broker message for a batch of the webhook writer instead of one per event)."""
    from whatsapp.inbound import inbound_event_process

    for event_id in event_ids:
        inbound_event_process(event_id=event_id)


@tenant_task(name="whatsapp.download_media", bind=True, max_retries=MEDIA_DOWNLOAD_MAX_RETRIES, acks_late=True)
def download_media_task(self, *, message_id: int, tenant_id: int) -> None:
    """Retryable provider errors retry with backoff while the message stays `pending`; a permanent
    error, or the last attempt's, marks the media `failed` (tickets.inbound.message_media_download)."""
    from tickets.inbound import message_media_download

    try:
        message_media_download(message_id=message_id, final_attempt=self.request.retries >= self.max_retries)
    except ProviderError as exc:
        logger.info(
            "media download will be retried",
            extra={"message_id": message_id, "code": exc.code, "retries": self.request.retries},
        )
        raise self.retry(countdown=media_download_countdown(self.request.retries), exc=exc) from None


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
