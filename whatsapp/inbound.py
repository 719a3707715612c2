"""The inbound pipeline's WhatsApp side: store a webhook delivery, process it, apply connection changes.

1. The webhook view finds the connection by the secret in its URL, checks the signature and calls
   `inbound_event_store`: the raw bytes go into one `INSERT … ON CONFLICT DO NOTHING` (a redelivery
   of the same body hits the unique dedupe key and adds nothing) and processing is enqueued on commit.
2. `inbound_event_process` (a worker) parses the body with the connection's adapter and applies each
   normalized event in its own savepoint: messages and statuses through tickets.inbound, edits and
   deletions through tickets.message_changes, session changes to the connection, account notices
   to the log. An event that fails is marked `failed` with the error and kept;
   `inbound_event_retry` runs it again (applying is idempotent).
3. Batches: `inbound_events_enqueue` gives a tenant at most two processing tasks at a time; ids
   stored meanwhile wait in a Redis list that those tasks drain, 20 at a time
   (`inbound_events_process_queued`). A batch applies in one transaction (`inbound_events_process`):
   one commit, one status UPDATE and one Redis round trip for 20 messages; if anything in it fails,
   each event runs again alone, with its own transaction and outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError

from config import sql
from config.batch import batch_memo
from tenants.context import require_current_tenant
from tickets import events
from tickets.inbound import inbound_message_apply, message_status_apply
from tickets.message_changes import message_delete_apply, message_edit_apply
from tickets.selectors import senders_with_active_ticket
from tickets.sequences import protocols_reserved
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
    inbound_events_enqueue(tenant_id=connection.tenant_id, event_ids=[event_id])
    return event_id


# Events per processing batch: a batch reads its connection once, and a task pays the worker's
# per-task cost (broker round trip, tenant lookup, bookkeeping — on the 2-core machine about as much
# CPU as applying a message) once for all of its events.
INBOUND_BATCH_SIZE = 20
# A webhook request stores one event. Rather than a task per event, at most this many processing
# tasks per tenant are queued or running; events stored meanwhile wait in a Redis list that those
# tasks drain, a batch at a time, before they end. Two: the worker's processes on 2 cores.
INBOUND_TASKS_PER_TENANT = 2
# A task killed before giving its place back frees it after this long (and the retry job
# re-enqueues events left pending for 5 minutes: they are rows, Redis only holds their ids).
_TASK_PLACE_TTL = 120
_DRAIN_MAX_BATCHES = 50  # then a fresh task takes over the place, so no task runs for ever

# KEYS: places taken, waiting ids. ARGV: places, TTL, ids… → 1: take a place (enqueue a task);
# 0: the ids were queued for a running task.
_ADMIT = """
local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
if taken >= tonumber(ARGV[1]) then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 3))
  redis.call('EXPIRE', KEYS[2], 86400)
  return 0
end
redis.call('SET', KEYS[1], taken + 1, 'EX', ARGV[2])
return 1
"""
# KEYS: places taken, waiting ids. ARGV: batch size, TTL → the next ids; none: the place is given
# back in the same step, so an id queued after this finds the place free and gets its own task.
_TAKE = """
local ids = redis.call('LPOP', KEYS[2], ARGV[1])
if ids then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return ids
end
local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
if taken > 1 then redis.call('SET', KEYS[1], taken - 1, 'EX', ARGV[2]) else redis.call('DEL', KEYS[1]) end
return {}
"""


def _queue_keys(tenant_id: int) -> list[str]:
    return [f"prosa:inbound:{tenant_id}:tasks", f"prosa:inbound:{tenant_id}:waiting"]


def inbound_events_enqueue(*, tenant_id: int, event_ids: list[int]) -> None:
    """Have stored events of one tenant processed, on commit (at once outside a transaction): a
    `process_inbound_events_task` of their own while the tenant has fewer than
    INBOUND_TASKS_PER_TENANT, else their ids join the list the running tasks drain. Called by
    `inbound_event_store` and, once per batch and tenant after its commit, by the webhook intake's
    group-commit writer (whatsapp.intake, from its own thread)."""
    from config.redis import get_redis
    from whatsapp.tasks import process_inbound_events_task

    ids = [int(event_id) for event_id in event_ids]
    if not ids:
        return

    def send() -> None:
        try:
            admitted = get_redis().eval(
                _ADMIT, 2, *_queue_keys(tenant_id), INBOUND_TASKS_PER_TENANT, _TASK_PLACE_TTL, *ids
            )
        except RedisError:
            logger.warning("inbound task places unavailable; enqueueing directly", extra={"tenant_id": tenant_id})
            admitted = 1
        if not admitted:
            return
        first, rest = ids[:INBOUND_BATCH_SIZE], ids[INBOUND_BATCH_SIZE:]
        if rest:  # one place, one task: it drains the rest
            try:
                get_redis().rpush(_queue_keys(tenant_id)[1], *rest)
            except RedisError:
                first = ids
        process_inbound_events_task.delay(event_ids=first, tenant_id=tenant_id)

    transaction.on_commit(send)


def inbound_events_process_queued(*, event_ids: list[int]) -> dict[int, str | None]:
    """What a processing task does: its own events, then the ones queued for the tenant meanwhile,
    a batch at a time, until none is left (the task's place is then given back) — or, after
    _DRAIN_MAX_BATCHES, a fresh task takes the place over."""
    from config.redis import get_redis
    from whatsapp.tasks import process_inbound_events_task

    tenant_id = require_current_tenant().pk
    results = inbound_events_process(event_ids=event_ids)
    for _batch in range(_DRAIN_MAX_BATCHES):
        waiting = get_redis().eval(_TAKE, 2, *_queue_keys(tenant_id), INBOUND_BATCH_SIZE, _TASK_PLACE_TTL)
        if not waiting:
            return results
        results.update(inbound_events_process(event_ids=[int(event_id) for event_id in waiting]))
    process_inbound_events_task.delay(event_ids=[], tenant_id=tenant_id)
    return results


def _enqueue(*, event_id: int, tenant_id: int) -> None:
    inbound_events_enqueue(tenant_id=tenant_id, event_ids=[event_id])


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


def inbound_events_process(*, event_ids: Iterable[int]) -> dict[int, str | None]:
    """Process a batch of stored deliveries. Returns each event's final status.

    First all of them in ONE transaction (`_process_together`): the batch locks its events and
    records their outcomes in one statement each, commits once and publishes its real-time events
    in one Redis round trip — a third fewer statements per message than a transaction per event.
    If anything in it fails, nothing of it is kept and every event is processed again on its own,
    exactly as `inbound_event_process` does — its own transaction, its own outcome: the one that
    fails is marked failed and the others apply. So the batch either applies whole or behaves as
    single events do; no failure is ever charged to the wrong event."""
    ids = list(dict.fromkeys(int(event_id) for event_id in event_ids))
    connections: dict[int, Connection] = {}
    if len(ids) > 1:
        try:
            with sql.prepared_statements():
                return _process_together(ids, connections)
        except Exception as exc:  # noqa: BLE001 — anything: then each event alone, with its own outcome
            logger.info("inbound batch processed event by event", extra={"count": len(ids), "error": repr(exc)[:200]})
            connections.clear()  # nothing loaded inside the rolled-back transaction is kept
    with batch_memo(), sql.prepared_statements():  # each event its own transaction, reads shared
        return {event_id: inbound_event_process(event_id=event_id, connections=connections) for event_id in ids}


_FINAL = (InboundEventStatus.PROCESSED, InboundEventStatus.IGNORED)


def _process_together(ids: list[int], connections: dict[int, Connection]) -> dict[int, str | None]:
    """The batch's events in one transaction. Their bodies are read and parsed before it, to count
    the senders who have no active ticket and may open one: that many protocol numbers are reserved
    first (tickets.sequences.protocols_reserved), so the tenant's counter is locked for one
    statement, not for the whole batch while every other worker opening a ticket waits. Inside,
    the events are locked and those another worker processed meanwhile are left alone."""
    tenant_id = require_current_tenant().pk
    results: dict[int, str | None] = dict.fromkeys(ids)
    stored = _events_read(ids, tenant_id, "e.connection_id, e.status, e.body")
    parsed: dict[int, tuple[Connection, list[Event]]] = {}

    def events_of(event_id: int) -> tuple[Connection, list[Event]]:
        if event_id not in parsed:
            connection_id, _status, body = stored[event_id]
            connection = _connection(connection_id, connections)
            parsed[event_id] = (connection, _events_for(connection, body, event_id))
        return parsed[event_id]

    for event_id in ids:  # in the order they were received
        if event_id in stored and stored[event_id][1] not in _FINAL:
            events_of(event_id)
    opening = _senders_opening_a_ticket(parsed.values())
    with batch_memo(), protocols_reserved(tenant_id=tenant_id, count=opening), transaction.atomic():
        locked = _events_read(ids, tenant_id, "e.status, e.attempts", lock=True)
        done: list[tuple[int, str, int]] = []
        for event_id in ids:
            if event_id not in locked:
                continue
            status, attempts = locked[event_id]
            if status in _FINAL:
                results[event_id] = status
                continue
            connection, mine = events_of(event_id)
            for item in mine:
                _apply(connection, item)  # a failure rolls the batch back: see inbound_events_process
            results[event_id] = InboundEventStatus.PROCESSED if mine else InboundEventStatus.IGNORED
            done.append((event_id, results[event_id], attempts + 1))
        if done:
            with db_connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {_TABLE} e SET status = v.status, error = '', attempts = v.attempts, "  # noqa: S608
                    "processed_at = %s FROM unnest(%s::bigint[], %s::varchar[], %s::integer[]) "
                    "AS v(id, status, attempts) WHERE e.tenant_id = %s AND e.id = v.id",
                    [timezone.now(), *map(list, zip(*done, strict=True)), tenant_id],
                )
    return results


def _events_read(ids: list[int], tenant_id: int, columns: str, *, lock: bool = False) -> dict[int, tuple]:
    """`columns` of the tenant's events among `ids`, by id (locked in id order if `lock`). By
    primary key, then the tenant: with `tenant_id = … AND id = ANY(…)` the prepared statement's
    plan could combine the tenant's whole index with the ids."""
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.id, {columns} FROM unnest(%s::bigint[]) AS wanted(id) "  # noqa: S608 — our own column list
            f"JOIN {_TABLE} e ON e.id = wanted.id WHERE e.tenant_id = %s"
            + (" ORDER BY e.id FOR UPDATE OF e" if lock else ""),
            [ids, tenant_id],
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _senders_opening_a_ticket(parsed: Iterable[tuple[Connection, list[Event]]]) -> int:
    """How many of the batch's message senders have no active ticket on their connection — the
    tickets the batch may open (a closed ticket may take the message instead: a number unused)."""
    senders: dict[Connection, set[str]] = {}
    for connection, items in parsed:
        senders.setdefault(connection, set()).update(
            item.sender_wa_id for item in items if isinstance(item, IncomingMessage) and not item.is_group
        )
    return sum(
        len(chats - senders_with_active_ticket(connection_id=connection.pk, wa_ids=chats))
        for connection, chats in senders.items()
        if chats
    )


def inbound_event_process(*, event_id: int, connections: dict[int, Connection] | None = None) -> str | None:
    """Parse and apply a stored webhook delivery. Returns its final status (None if it does not exist).

    Processed and ignored events are left alone, so a second run (a duplicate task, a retry of an
    event that succeeded meanwhile) does nothing. Events for another number or instance than the
    connection's are skipped; a body with nothing for this connection ends `ignored`. Whatever
    goes wrong, the event is kept as `failed` with the error, to be retried.
    `connections`: the connections already loaded by this batch, by id (filled as they are read).
    """
    for attempt in (1, 2):
        try:
            return _process(event_id, {} if connections is None else connections)
        except IntegrityError as exc:
            # A concurrent delivery of the same message stored it first: the second pass sees it.
            if connections:
                connections.clear()  # nothing loaded inside a rolled-back transaction is kept
            if attempt == 2:
                return _mark_failed(event_id, exc)
        except Exception as exc:  # noqa: BLE001 — any failure must leave the event retryable, never lost
            if connections:
                connections.clear()
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


_TABLE = InboundEvent._meta.db_table


def _event_locked(event_id: int) -> tuple[int, str, bytes, int] | None:
    """(connection id, status, body, attempts) of the current tenant's event, locked. One plain
    statement: this runs once per delivery, and the ORM's query building costs more than the query."""
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT connection_id, status, body, attempts FROM {_TABLE} "  # noqa: S608
            "WHERE tenant_id = %s AND id = %s FOR UPDATE",
            [require_current_tenant().pk, event_id],
        )
        return cursor.fetchone()


def _connection(connection_id: int, connections: dict[int, Connection]) -> Connection:
    connection = connections.get(connection_id)
    if connection is None:
        connection = Connection.objects.get(pk=connection_id)
        connection.tenant = require_current_tenant()  # the task's tenant: the manager filtered by it
        connections[connection_id] = connection
    return connection


def _events_for(connection: Connection, body: bytes, event_id: int) -> list[Event]:
    """The normalized events of a delivery that are for this connection's number or instance."""
    parsed = get_adapter(connection).parse_webhook(bytes(body))
    channel_id = _channel_id(connection)
    mine = [item for item in parsed if item.channel_id == channel_id]
    if len(mine) < len(parsed):
        logger.warning(
            "webhook events for another number ignored",
            extra={"connection_id": connection.pk, "event_id": event_id, "count": len(parsed) - len(mine)},
        )
    return mine


def _process(event_id: int, connections: dict[int, Connection]) -> str | None:
    with transaction.atomic():
        row = _event_locked(event_id)
        if row is None:
            return None
        connection_id, status, body, attempts = row
        if status in (InboundEventStatus.PROCESSED, InboundEventStatus.IGNORED):
            return status
        connection = _connection(connection_id, connections)
        mine = _events_for(connection, body, event_id)
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
        if errors:
            status, error, processed_at = InboundEventStatus.FAILED, "\n".join(errors)[:_ERROR_LENGTH], None
        else:
            status = InboundEventStatus.PROCESSED if mine else InboundEventStatus.IGNORED
            error, processed_at = "", timezone.now()
        with db_connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_TABLE} SET status = %s, error = %s, attempts = %s, processed_at = %s "  # noqa: S608
                "WHERE tenant_id = %s AND id = %s",
                [status, error, attempts + 1, processed_at, connection.tenant_id, event_id],
            )
        return status


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
