"""Real-time events: `{"type": ..., "data": ...}` pushed to the Channels groups allowed to see them,
always after the transaction commits (a rolled-back change is never announced).

Who sees a ticket (same rule as the ticket API): the tenant's admins and supervisors
(`tenant.<id>.staff`), its assignee (`tenant.<id>.user.<uid>`), and while it waits in a queue the
queue's members (`tenant.<id>.queue.<qid>`) — or every agent (`tenant.<id>.agents`) when it has no
queue. Services call the functions below; the consumer joins the groups in connect().
"""

import asyncio
import functools
import json
import os
import threading
from datetime import datetime

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenants.consumers import user_group


def staff_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}.staff"


def agents_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}.agents"


def queue_group(tenant_id: int, queue_id: int) -> str:
    return f"tenant.{tenant_id}.queue.{queue_id}"


def everyone_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}"


def ticket_audience(ticket) -> set[str]:
    groups = {staff_group(ticket.tenant_id)}
    if ticket.assignee_id:
        groups.add(user_group(ticket.tenant_id, ticket.assignee_id))
    if ticket.status == "pending":
        if ticket.queue_id:
            groups.add(queue_group(ticket.tenant_id, ticket.queue_id))
        else:
            groups.add(agents_group(ticket.tenant_id))
    return groups


def layer_message(event: dict) -> dict:
    """The channel-layer message of an event: its JSON text, encoded once here for every socket that
    receives it (the consumer forwards the text as it is), instead of once per socket."""
    return {"type": "prosa.event", "text": json.dumps(event)}


class _Outbox:
    """The events of one transaction, sent by a single on-commit callback: one trip into an event
    loop and one Redis connection for all of them, instead of one per group and event (each
    `async_to_sync` call starts its own loop and connection, ~4 ms)."""

    __slots__ = ("deliveries", "sent")

    def __init__(self):
        self.deliveries: list[tuple[list[str], dict]] = []
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        _send(self.deliveries)


def _send(deliveries: list[tuple[list[str], dict]]) -> None:
    layer = get_channel_layer()
    publisher = _pubsub_publisher(layer)
    if publisher is not None:
        publisher.publish(deliveries)
        return

    async def send_all():
        # One after the other: a socket receives its events in the order they were published.
        for groups, message in deliveries:
            for group in groups:
                await layer.group_send(group, message)

    _run(send_all)


class _PubSubPublisher:
    """What `RedisPubSubChannelLayer.group_send` does — a PUBLISH of the serialized message on the
    group's channel of its shard — from synchronous code, every delivery of a commit in one
    pipelined round trip per shard, without an event loop. The layer's own coroutine path costs a
    trip into a loop and a lock per group (~1 ms a message in the inbound workers); this is the
    same wire format, so the consumers (subscribed through the layer) cannot tell the difference.
    The channel names and shard choice are channels_redis's (pinned by tickets/tests/test_events.py)."""

    def __init__(self, layer, hosts: list[dict], prefix: str):
        import redis

        self.layer, self.prefix = layer, prefix
        self.clients = [
            redis.Redis.from_url(host["address"], **{key: value for key, value in host.items() if key != "address"})
            for host in hosts
        ]

    def channel(self, group: str) -> tuple[int, str]:
        from channels_redis.utils import _consistent_hash

        name = f"{self.prefix}__group__{group}"
        return _consistent_hash(name, len(self.clients)), name

    def publish(self, deliveries: list[tuple[list[str], dict]]) -> None:
        pipelines: dict[int, object] = {}
        for groups, message in deliveries:
            payload = self.layer.serialize(message)
            for group in groups:
                shard, name = self.channel(group)
                pipeline = pipelines.get(shard)
                if pipeline is None:
                    pipeline = pipelines[shard] = self.clients[shard].pipeline(transaction=False)
                pipeline.publish(name, payload)
        for pipeline in pipelines.values():
            pipeline.execute()


_publishers: dict[int, tuple[int, _PubSubPublisher | None]] = {}


def _pubsub_publisher(layer) -> _PubSubPublisher | None:
    """The synchronous publisher of the pub/sub layer (one per layer and process: a forked worker
    makes its own connections); None for any other layer, or hosts given other than by URL
    (Sentinel), which keep the layer's own path."""
    from channels_redis.pubsub import RedisPubSubChannelLayer
    from channels_redis.utils import decode_hosts

    known = _publishers.get(id(layer))
    if known is not None and known[0] == os.getpid():
        return known[1]
    publisher = None
    if isinstance(layer, RedisPubSubChannelLayer):
        hosts = decode_hosts(layer._kwargs.get("hosts"))
        if all("address" in host for host in hosts):
            publisher = _PubSubPublisher(layer, hosts, layer._kwargs.get("prefix", "asgi"))
    _publishers[id(layer)] = (os.getpid(), publisher)
    return publisher


_thread_loop = threading.local()


def _run(coroutine_function) -> None:
    """Runs the coroutine to completion from synchronous code. Under an ASGI server (a sync view
    or consumer handler with the server's loop above it) the server's loop runs it, as
    `async_to_sync` does. Elsewhere — workers, WSGI, commands — each thread keeps one event loop
    of its own instead of `async_to_sync`'s new loop, thread and Redis connection per call, so the
    channel layer's connection pool (kept per loop) is reused."""
    server_loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if server_loop is not None and getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid():
        async_to_sync(coroutine_function)()
        return
    loop = getattr(_thread_loop, "loop", None)
    if loop is None or loop.is_closed() or _thread_loop.pid != os.getpid():  # new thread, or a forked child
        loop = asyncio.new_event_loop()
        _thread_loop.loop, _thread_loop.pid = loop, os.getpid()
    loop.run_until_complete(coroutine_function())


def _open_outbox(db) -> _Outbox | None:
    """The outbox this event may join: the last on-commit callback, if it is an unsent outbox
    registered at the current savepoint level. Anything else registered after it (a task to
    enqueue) or a savepoint entered since (which may roll back alone) starts a new one, so events
    and other side effects keep their order and each event shares its transaction's fate."""
    if not db.run_on_commit:
        return None
    savepoint_ids, callback, _robust = db.run_on_commit[-1]
    if isinstance(callback, _Outbox) and not callback.sent and savepoint_ids == set(db.savepoint_ids):
        return callback
    return None


def publish(groups, event_type: str, data: dict) -> None:
    """Sends after commit (at once outside a transaction)."""
    delivery = (sorted(set(groups)), layer_message({"type": event_type, "data": data}))
    db = transaction.get_connection()
    if not db.in_atomic_block:
        transaction.on_commit(lambda: _send([delivery]))  # at once (or refused in manual transactions)
        return
    outbox = _open_outbox(db)
    if outbox is None:
        outbox = _Outbox()
        transaction.on_commit(outbox)
    outbox.deliveries.append(delivery)


# Field types whose DRF rendering is a plain conversion (`CharField.to_representation` is
# `str(value)`, and so on): the compiled renderers below call the conversion itself.
def _same(value):
    return value


def _fast_conversions() -> dict:
    from rest_framework import serializers

    return {
        serializers.CharField: str,
        serializers.EmailField: str,
        serializers.IntegerField: int,
        serializers.FloatField: float,
        serializers.BooleanField: bool,
        serializers.ReadOnlyField: _same,
    }


def _iso_datetime_field(field) -> bool:
    """A DateTimeField rendered in ISO 8601 in the current time zone (DRF's default)."""
    from rest_framework import ISO_8601
    from rest_framework.settings import api_settings

    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    return isinstance(output_format, str) and output_format.lower() == ISO_8601 and not hasattr(field, "timezone")


_PLAIN, _NESTED, _DATETIME, _MANY = 0, 1, 2, 3


def _many_to_many_field(serializer, field) -> bool:
    """Whether the list field renders a forward many-to-many field of the serializer's model by its
    own name — the key `prefetch_related` keeps its rows under."""
    from django.db.models import ManyToManyField

    model = getattr(getattr(serializer, "Meta", None), "model", None)
    if model is None or field.source == "*" or len(field.source_attrs) != 1:
        return False
    try:
        return isinstance(model._meta.get_field(field.source_attrs[0]), ManyToManyField)
    except Exception:  # noqa: BLE001 — FieldDoesNotExist: a property or method, not a relation
        return False


def _compile(serializer):
    """A function rendering an object exactly as `serializer.to_representation(obj)` does, with the
    per-field decisions taken once: DRF spends more of each render walking its field machinery
    (source lookups, callables, skip checks, the current time zone for every date) than converting
    values, and real-time payloads are rendered for every received message. Conversions that are
    not plain (files, method fields, choices) are still the fields' own `to_representation`.
    The renderer takes the current time zone, looked up once per payload."""
    from django.db.models import Manager
    from rest_framework import serializers

    fast = _fast_conversions()
    steps = []
    for field in serializer._readable_fields:
        kind = _PLAIN
        if isinstance(field, serializers.ListSerializer):
            child = _compile(field.child)

            def convert(value, tz, child=child):
                return [child(item, tz) for item in (value.all() if isinstance(value, Manager) else value)]

            convert.child = child
            kind = _MANY if _many_to_many_field(serializer, field) else _NESTED
        elif isinstance(field, serializers.BaseSerializer):
            convert, kind = _compile(field), _NESTED
        elif isinstance(field, serializers.JSONField) and not field.binary:
            convert = _same
        elif isinstance(field, serializers.DateTimeField) and _iso_datetime_field(field):
            convert, kind = field.to_representation, _DATETIME
        else:
            convert = fast.get(type(field), field.to_representation)
        simple = field.source != "*" and len(field.source_attrs) == 1
        steps.append((field.field_name, field.source_attrs[0] if simple else None, field, convert, kind))

    def render(instance, tz) -> dict:
        data = {}
        for name, attr, field, convert, kind in steps:
            if kind == _MANY:
                # Prefetched (`prefetch_related`, or known empty): the rows themselves, without
                # building the related manager and a queryset around them for each render.
                prefetched = instance.__dict__.get("_prefetched_objects_cache", {}).get(attr)
                if prefetched is not None and prefetched._result_cache is not None:
                    data[name] = [convert.child(item, tz) for item in prefetched._result_cache]
                    continue
                kind = _NESTED
            value = getattr(instance, attr) if attr is not None else field.get_attribute(instance)
            if callable(value) and not isinstance(value, Manager):
                value = field.get_attribute(instance)  # a method as the source: DRF's own rules
            if value is None:
                data[name] = None
            elif kind == _PLAIN:
                data[name] = convert(value)
            elif kind == _NESTED:
                data[name] = convert(value, tz)
            elif tz is not None and isinstance(value, datetime) and value.utcoffset() is not None:
                text = value.astimezone(tz).isoformat()  # DateTimeField.to_representation, time zone known
                data[name] = text[:-6] + "Z" if text.endswith("+00:00") else text
            else:
                data[name] = convert(value)
        return data

    return render


@functools.cache
def _compiled(serializer_class):
    return _compile(serializer_class())


def _renderer(serializer_class):
    """`obj → serializer_class().to_representation(obj)`, compiled once per process."""
    render = _compiled(serializer_class)
    return lambda instance: render(instance, timezone.get_current_timezone() if settings.USE_TZ else None)


def ticket_data(ticket) -> dict:
    """`TicketSerializer(ticket).data`, rendered by the compiled renderer (the ticket list uses it too)."""
    from tickets.api.serializers import TicketSerializer

    return _renderer(TicketSerializer)(ticket)


def _message_data(message) -> dict:
    from tickets.api.serializers import MessageSerializer

    return _renderer(MessageSerializer)(message)


def ticket_created(ticket) -> None:
    publish(ticket_audience(ticket), "ticket.created", ticket_data(ticket))


def ticket_updated(ticket, *, previous_audience: set[str] | None = None) -> None:
    """`previous_audience`: who could see the ticket before the change (a transfer or accept moves
    it); they are told too, so their lists drop it."""
    publish(ticket_audience(ticket) | (previous_audience or set()), "ticket.updated", ticket_data(ticket))


def ticket_deleted(ticket) -> None:
    publish(ticket_audience(ticket), "ticket.deleted", {"id": ticket.pk})


def message_created(message) -> None:
    publish(ticket_audience(message.ticket), "message.created", _message_data(message))


def inbound_message_created(message, *, ticket_created: bool = False, ticket_changed: bool = False) -> None:
    """A received message, in one event per socket: `message.created` whose `data.ticket` is the
    ticket as it stands after the message (unread count, preview — what `ticket.updated` carries),
    instead of a `ticket.updated` beside every message. A ticket the message opened
    (`ticket.created`) or changed otherwise (reopened, rated: `ticket.updated`) is announced first."""
    ticket = message.ticket
    audience, payload = ticket_audience(ticket), ticket_data(ticket)
    if ticket_created:
        publish(audience, "ticket.created", payload)
    elif ticket_changed:
        publish(audience, "ticket.updated", payload)
    publish(audience, "message.created", {**_message_data(message), "ticket": payload})


def message_updated(message) -> None:
    publish(ticket_audience(message.ticket), "message.updated", _message_data(message))


def contact_updated(contact) -> None:
    from crm.api.serializers import ContactSerializer

    data = _renderer(ContactSerializer)(contact)
    publish({everyone_group(contact.tenant_id)}, "contact.updated", data)


def connection_updated(connection) -> None:
    from whatsapp.api.serializers import ConnectionSummarySerializer

    publish({everyone_group(connection.tenant_id)}, "connection.updated", ConnectionSummarySerializer(connection).data)
