"""The inbound pipeline's WhatsApp side: store a webhook delivery, process it, apply connection changes.

1. The webhook view finds the connection by the secret in its URL, checks the signature and calls
   `inbound_event_store`: the raw bytes go into one `INSERT … ON CONFLICT DO NOTHING` (a redelivery
   of the same body hits the unique dedupe key and adds nothing) and processing is enqueued on commit.
2. `inbound_event_process` (a worker) parses the body with the connection's adapter and applies each
   normalized event in its own savepoint: messages and statuses through tickets.inbound, edits and
   deletions through tickets.message_changes, session changes to the connection, account notices
   to the log. An event that fails is marked `failed` with the error and kept;
   `inbound_event_retry` runs it again (applying is idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import F, Q
from django.utils import timezone

from tickets import events
from tickets.inbound import inbound_message_apply, message_status_apply
from tickets.message_changes import message_delete_apply, message_edit_apply
from whatsapp.choices import InboundEventStatus, Provider
from whatsapp.models import Connection, InboundEvent
from whatsapp.providers import get_adapter
from whatsapp.providers.base import (
    ConnectionUpdate,
    Event,
    IncomingMessage,
    MessageDeleted,
    MessageEdited,
    ProviderNotice,
    StatusUpdate,
)

logger = logging.getLogger("whatsapp.inbound")

MAX_BODY_BYTES = 5 * 1024 * 1024
INBOUND_ENQUEUE_CHUNK = 20
_ERROR_LENGTH = 2000


# --- receiving ------------------------------------------------------------------------------------


def connection_get_for_webhook(*, provider: str, secret: str) -> Connection | None:
    """The connection a webhook URL addresses (its secret is unique across tenants), with its tenant.

    Platform code: the tenant is not known before the connection is found, so this reads across
    tenants on purpose (`all_tenants`); the caller enters the connection's tenant right after.
    """
    if not secret:
        return None
    return (
        Connection.all_tenants.select_related("tenant")
        .filter(webhook_secret=secret, provider=provider, tenant__is_active=True)
        .first()
    )


def inbound_event_store(*, connection: Connection, body: bytes, content_type: str = "") -> int | None:
    """Store one webhook delivery in a single INSERT and enqueue its processing on commit.

    Returns the new event's id, or None when the same bytes were already received for this
    connection (a provider retry): nothing is stored or enqueued then.
    """
    table = db_connection.ops.quote_name(InboundEvent._meta.db_table)
    dedupe_key = InboundEvent.build_dedupe_key(connection_id=connection.pk, body=body)
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, connection_id, provider, dedupe_key, body, content_type, "  # noqa: S608
            "status, error, attempts, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, '', 0, %s) "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            [
                connection.tenant_id,
                connection.pk,
                connection.provider,
                dedupe_key,
                body,
                content_type[:100],
                InboundEventStatus.PENDING,
                timezone.now(),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        logger.info("duplicate webhook delivery dropped", extra={"connection_id": connection.pk})
        return None
    event_id = row[0]
    tenant_id = connection.tenant_id
    transaction.on_commit(lambda: inbound_events_enqueue(tenant_id=tenant_id, event_ids=[event_id]))
    return event_id


def _enqueue(*, event_id: int, tenant_id: int) -> None:
    from whatsapp.tasks import process_inbound_event_task

    transaction.on_commit(lambda: process_inbound_event_task.delay(event_id=event_id, tenant_id=tenant_id))


def inbound_events_enqueue(*, tenant_id: int, event_ids: list[int]) -> None:
    """Hands committed events of one tenant to the workers: called once per batch and tenant by the
    group-commit webhook writer (whatsapp.intake) and on commit by `inbound_event_store`. One broker
    message per `INBOUND_ENQUEUE_CHUNK` events — publishing a Celery message costs ~0.4 ms of CPU,
    as much as the rest of the intake of one webhook — while bursts still spread over the workers."""
    from whatsapp.tasks import process_inbound_event_task, process_inbound_events_task

    if len(event_ids) == 1:
        process_inbound_event_task.delay(event_id=event_ids[0], tenant_id=tenant_id)
        return
    for start in range(0, len(event_ids), INBOUND_ENQUEUE_CHUNK):
        chunk = event_ids[start : start + INBOUND_ENQUEUE_CHUNK]
        process_inbound_events_task.delay(event_ids=chunk, tenant_id=tenant_id)


# --- processing -----------------------------------------------------------------------------------


def _channel_id(connection: Connection) -> str:
    return connection.phone_number_id if connection.provider == Provider.CLOUD else connection.instance_name


def _apply(connection: Connection, item: Event) -> None:
    if isinstance(item, IncomingMessage):
        inbound_message_apply(connection=connection, incoming=item)
    elif isinstance(item, StatusUpdate):
        message_status_apply(connection=connection, update=item)
    elif isinstance(item, MessageEdited):
        message_edit_apply(connection=connection, update=item)
    elif isinstance(item, MessageDeleted):
        message_delete_apply(connection=connection, update=item)
    elif isinstance(item, ConnectionUpdate):
        connection_status_apply(connection=connection, update=item)
    elif isinstance(item, ProviderNotice):
        logger.warning(
            "provider notice",
            extra={"connection_id": connection.pk, "code": item.code, "title": item.title, "detail": item.detail},
        )


def _apply_in_savepoint(connection: Connection, item: Event) -> None:
    """One normalized event, all or nothing. A unique violation means another transaction stored
    the same row a moment ago (a concurrent delivery of the same message): the second pass sees
    that row and does nothing."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                _apply(connection, item)
            return
        except IntegrityError:
            if attempt == 2:
                raise


def inbound_event_process(*, event_id: int) -> str | None:
    """Parse and apply a stored webhook delivery. Returns its final status (None if it does not exist).

    Processed and ignored events are left alone, so a second run (a duplicate task, a retry of an
    event that succeeded meanwhile) does nothing. Events for another number or instance than the
    connection's are skipped; a body with nothing for this connection ends `ignored`. Whatever
    goes wrong, the event is kept as `failed` with the error, to be retried.
    """
    for attempt in (1, 2):
        try:
            return _process(event_id)
        except IntegrityError as exc:
            # A concurrent delivery of the same message stored it first: the second pass sees it.
            if attempt == 2:
                return _mark_failed(event_id, exc)
        except Exception as exc:  # noqa: BLE001 — any failure must leave the event retryable, never lost
            return _mark_failed(event_id, exc)
    return None  # unreachable


def _mark_failed(event_id: int, exc: Exception) -> str:
    logger.error("inbound event could not be processed", extra={"event_id": event_id}, exc_info=exc)
    InboundEvent.objects.filter(pk=event_id).exclude(status=InboundEventStatus.PROCESSED).update(
        status=InboundEventStatus.FAILED,
        error=f"{type(exc).__name__}: {exc}"[:_ERROR_LENGTH],
        attempts=F("attempts") + 1,
    )
    return InboundEventStatus.FAILED


def _process(event_id: int) -> str | None:
    with transaction.atomic():
        event = (
            InboundEvent.objects.select_for_update(of=("self",))
            .select_related("connection", "connection__tenant")
            .filter(pk=event_id)
            .first()
        )
        if event is None:
            return None
        if event.status in (InboundEventStatus.PROCESSED, InboundEventStatus.IGNORED):
            return event.status
        connection = event.connection
        parsed = get_adapter(connection).parse_webhook(bytes(event.body))
        channel_id = _channel_id(connection)
        mine = [item for item in parsed if item.channel_id == channel_id]
        if len(mine) < len(parsed):
            logger.warning(
                "webhook events for another number ignored",
                extra={"connection_id": connection.pk, "event_id": event_id, "count": len(parsed) - len(mine)},
            )
        errors: list[str] = []
        if len(mine) == 1:
            _apply(connection, mine[0])  # the event's own transaction is the savepoint
        else:
            for item in mine:
                try:
                    _apply_in_savepoint(connection, item)
                except Exception as exc:  # noqa: BLE001 — the others still apply; this one is retried
                    logger.error(
                        "inbound event failed", extra={"event_id": event_id, "kind": type(item).__name__}, exc_info=exc
                    )
                    errors.append(f"{type(item).__name__}: {type(exc).__name__}: {exc}")
        event.attempts += 1
        if errors:
            event.status = InboundEventStatus.FAILED
            event.error = "\n".join(errors)[:_ERROR_LENGTH]
        else:
            event.status = InboundEventStatus.PROCESSED if mine else InboundEventStatus.IGNORED
            event.error = ""
            event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at"])
        return event.status


def inbound_event_retry(*, events_to_retry: Iterable[InboundEvent]) -> int:
    """Process failed events again (on commit, through the worker). Returns how many were enqueued;
    events that are not failed are left alone."""
    count = 0
    for event in events_to_retry:
        if event.status != InboundEventStatus.FAILED:
            continue
        _enqueue(event_id=event.pk, tenant_id=event.tenant_id)
        count += 1
    return count


INBOUND_MAX_ATTEMPTS = 5
STALE_PENDING_AFTER = timedelta(minutes=5)


def _due_for_retry(now) -> Q:
    """Failed events with attempts left, and pending ones whose enqueue was evidently lost
    (the broker was down at commit): both would otherwise wait for a human forever."""
    now = now or timezone.now()
    return Q(status=InboundEventStatus.FAILED, attempts__lt=INBOUND_MAX_ATTEMPTS) | Q(
        status=InboundEventStatus.PENDING, received_at__lt=now - STALE_PENDING_AFTER
    )


def inbound_events_due_for_retry(*, now=None):
    return InboundEvent.objects.filter(_due_for_retry(now)).only("pk", "tenant_id", "status")


def inbound_events_retry_due(*, now=None) -> int:
    """Enqueues every due event of the current tenant once; returns how many."""
    count = 0
    for event in inbound_events_due_for_retry(now=now):
        _enqueue(event_id=event.pk, tenant_id=event.tenant_id)
        count += 1
    return count


def tenant_ids_with_events_due(*, now=None) -> list[int]:
    """Platform fan-out of the retry beat job: which tenants have something to retry."""
    due = InboundEvent.all_tenants.filter(_due_for_retry(now), tenant__is_active=True)
    return list(due.values_list("tenant_id", flat=True).distinct())


# --- connection state -----------------------------------------------------------------------------


def connection_status_apply(*, connection: Connection, update: ConnectionUpdate) -> bool:
    """The provider says the session changed state. Returns whether the stored status changed."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if connection.status == update.status:
        return False
    connection.status = update.status
    connection.last_status_at = timezone.now()
    connection.save(update_fields=["status", "last_status_at", "updated_at"])
    logger.info(
        "connection status changed",
        extra={"connection_id": connection.pk, "status": str(update.status), "reason": update.status_reason},
    )
    events.connection_updated(connection)
    return True
