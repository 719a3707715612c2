# ruff: noqa: F401, F811 — pytest fixtures imported from whatsapp.tests.inbound_fixtures
"""Processing in batches: what the webhook view enqueues (inbound_events_enqueue), how a tenant's
events wait for its running tasks, and each event of a batch keeping its own outcome."""

import json

import pytest

from config.redis import get_redis
from tenants.context import tenant_context
from tickets.models import Message, Ticket
from tickets.sequences import ticket_protocol_next
from whatsapp import inbound
from whatsapp.choices import InboundEventStatus
from whatsapp.models import InboundEvent
from whatsapp.tasks import process_inbound_events_task
from whatsapp.tests.factories import InboundEventFactory
from whatsapp.tests.inbound_fixtures import cloud_connection

pytestmark = pytest.mark.django_db


def _text(payload, message_id: str) -> bytes:
    body = json.loads(payload("cloud/text"))
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = message_id
    return json.dumps(body).encode()


def _events(tenant, connection, payload, count):
    return [
        InboundEventFactory(tenant=tenant, connection=connection, body=_text(payload, f"wamid.BATCH{n}"))
        for n in range(count)
    ]


def _statuses(events):
    return [InboundEvent.all_tenants.get(pk=event.pk).status for event in events]


def test_enqueued_events_are_processed_and_the_task_gives_its_place_back(
    tenant, cloud_connection, payload, django_capture_on_commit_callbacks
):
    events = _events(tenant, cloud_connection, payload, 3)
    with django_capture_on_commit_callbacks(execute=True):
        inbound.inbound_events_enqueue(tenant_id=tenant.pk, event_ids=[event.pk for event in events])
    assert _statuses(events) == [InboundEventStatus.PROCESSED] * 3
    assert Message.all_tenants.filter(tenant=tenant).count() == 3
    assert Ticket.all_tenants.filter(tenant=tenant).count() == 1  # one contact, one ticket
    tasks_key, waiting_key = inbound._queue_keys(tenant.pk)
    assert get_redis().get(tasks_key) is None
    assert get_redis().llen(waiting_key) == 0


def test_more_events_than_a_batch_go_to_one_task_that_drains_the_rest(
    tenant, cloud_connection, payload, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(inbound, "INBOUND_BATCH_SIZE", 2)
    started = []
    original = process_inbound_events_task.delay
    monkeypatch.setattr(
        process_inbound_events_task, "delay", lambda **kwargs: (started.append(kwargs["event_ids"]), original(**kwargs))
    )
    events = _events(tenant, cloud_connection, payload, 5)
    with django_capture_on_commit_callbacks(execute=True):
        inbound.inbound_events_enqueue(tenant_id=tenant.pk, event_ids=[event.pk for event in events])
    assert started == [[events[0].pk, events[1].pk]]
    assert _statuses(events) == [InboundEventStatus.PROCESSED] * 5


def test_while_the_tenant_has_its_tasks_new_events_wait_for_them(
    tenant, cloud_connection, payload, django_capture_on_commit_callbacks
):
    """Two tasks already queued or running: a new event gets no task of its own; the next task
    that runs takes it from the waiting list, then gives its place back."""
    waiting_event, own_event = _events(tenant, cloud_connection, payload, 2)
    tasks_key, waiting_key = inbound._queue_keys(tenant.pk)
    get_redis().set(tasks_key, inbound.INBOUND_TASKS_PER_TENANT)
    with django_capture_on_commit_callbacks(execute=True):
        inbound.inbound_events_enqueue(tenant_id=tenant.pk, event_ids=[waiting_event.pk])
    assert _statuses([waiting_event]) == [InboundEventStatus.PENDING]
    assert get_redis().lrange(waiting_key, 0, -1) == [str(waiting_event.pk).encode()]

    results = process_inbound_events_task.delay(event_ids=[own_event.pk], tenant_id=tenant.pk).get()
    assert results == {own_event.pk: InboundEventStatus.PROCESSED, waiting_event.pk: InboundEventStatus.PROCESSED}
    assert get_redis().get(tasks_key) == str(inbound.INBOUND_TASKS_PER_TENANT - 1).encode()
    assert get_redis().llen(waiting_key) == 0


def test_one_bad_event_fails_alone_and_the_rest_of_the_batch_applies(tenant, cloud_connection, payload):
    good_before, good_after = _events(tenant, cloud_connection, payload, 2)
    bad = InboundEventFactory(tenant=tenant, connection=cloud_connection, body=b"{not json")
    with tenant_context(tenant):
        results = inbound.inbound_events_process(event_ids=[good_before.pk, bad.pk, good_after.pk])
    assert results == {
        good_before.pk: InboundEventStatus.PROCESSED,
        bad.pk: InboundEventStatus.FAILED,
        good_after.pk: InboundEventStatus.PROCESSED,
    }
    bad.refresh_from_db()
    assert bad.error and bad.attempts == 1  # kept, with the error, for the retry job
    assert Message.all_tenants.filter(tenant=tenant).count() == 2


def test_a_batch_skips_events_processed_meanwhile_and_unknown_ids(tenant, cloud_connection, payload):
    (event,) = _events(tenant, cloud_connection, payload, 1)
    with tenant_context(tenant):
        assert inbound.inbound_events_process(event_ids=[event.pk]) == {event.pk: InboundEventStatus.PROCESSED}
        again = inbound.inbound_events_process(event_ids=[event.pk, 999_999])
    assert again == {event.pk: InboundEventStatus.PROCESSED, 999_999: None}
    assert Message.all_tenants.filter(tenant=tenant).count() == 1


def test_an_event_of_another_tenant_is_not_processed_by_this_tenants_batch(
    tenant, other_tenant, cloud_connection, payload
):
    (event,) = _events(tenant, cloud_connection, payload, 1)
    with tenant_context(other_tenant):
        assert inbound.inbound_events_process(event_ids=[event.pk]) == {event.pk: None}
    assert _statuses([event]) == [InboundEventStatus.PENDING]


def _text_from(payload, message_id: str, wa_id: str, text: str) -> bytes:
    body = json.loads(payload("cloud/text"))
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = value["messages"][0]["from"] = wa_id
    value["messages"][0].update(id=message_id, text={"body": text})
    return json.dumps(body).encode()


@pytest.mark.django_db(transaction=True)
def test_a_batch_applies_open_tickets_and_new_customers_together_in_order_with_reserved_protocols(
    tenant, cloud_connection, payload
):
    """A new customer's ticket takes a protocol number reserved before the batch's transaction
    (the tenant's counter is not locked while the batch runs); each sender's messages stay in the
    order received, and all are recorded by the batch's one status UPDATE."""
    from tickets.tests.factories import TicketFactory

    known = TicketFactory(tenant=tenant, connection=cloud_connection, status=Ticket.Status.OPEN, protocol=1,
                          contact__wa_id="5511911110000", contact__phone="5511911110000")  # fmt: skip
    with tenant_context(tenant):
        assert ticket_protocol_next(tenant=tenant) == 1  # the counter, as the first ticket's opening left it
    plan = [("5511911110000", "a1"), ("5511922220000", "b1"), ("5511911110000", "a2"), ("5511922220000", "b2"),
            ("5511933330000", "c1")]  # fmt: skip
    events = [
        InboundEventFactory(tenant=tenant, connection=cloud_connection, body=_text_from(payload, f"wamid.M{n}", *sent))
        for n, sent in enumerate(plan)
    ]
    with tenant_context(tenant):
        results = inbound.inbound_events_process(event_ids=[event.pk for event in events])
        assert ticket_protocol_next(tenant=tenant) == 4  # 2 and 3 were reserved, for the two new customers
    assert list(results) == [event.pk for event in events]
    assert set(results.values()) == {InboundEventStatus.PROCESSED}
    assert list(Message.all_tenants.filter(ticket=known).order_by("id").values_list("text", flat=True)) == ["a1", "a2"]
    opened = Ticket.all_tenants.exclude(pk=known.pk).filter(tenant=tenant).order_by("protocol")
    assert [(ticket.contact.wa_id, ticket.protocol) for ticket in opened] == [
        ("5511922220000", 2),
        ("5511933330000", 3),
    ]
    inbound_texts = Message.all_tenants.filter(ticket=opened[0], direction="inbound").order_by("id")
    assert list(inbound_texts.values_list("text", flat=True)) == ["b1", "b2"]
    processed_at = dict(InboundEvent.all_tenants.filter(pk__in=results).values_list("pk", "processed_at"))
    assert len(set(processed_at.values())) == 1  # one transaction, one statement


@pytest.mark.django_db(transaction=True)
def test_a_ticket_the_reservation_did_not_foresee_takes_the_next_number_of_the_counter(
    tenant, cloud_connection, payload, monkeypatch
):
    """The reservation counts senders without an active ticket when the batch is read; a ticket
    closed in between opens one more: it takes the counter's next number, after the reserved."""
    from tickets.tests.factories import TicketFactory

    TicketFactory(tenant=tenant, connection=cloud_connection, status=Ticket.Status.OPEN, protocol=1,
                  contact__wa_id="5511911110000", contact__phone="5511911110000")  # fmt: skip
    with tenant_context(tenant):
        ticket_protocol_next(tenant=tenant)
    monkeypatch.setattr(inbound, "senders_with_active_ticket", lambda *, connection_id, wa_ids: set(wa_ids))
    events = [
        InboundEventFactory(tenant=tenant, connection=cloud_connection, body=_text_from(payload, f"wamid.U{n}", *sent))
        for n, sent in enumerate([("5511911110000", "a1"), ("5511944440000", "d1")])
    ]
    with tenant_context(tenant):
        results = inbound.inbound_events_process(event_ids=[event.pk for event in events])
    assert set(results.values()) == {InboundEventStatus.PROCESSED}
    assert Ticket.all_tenants.get(tenant=tenant, contact__wa_id="5511944440000").protocol == 2


def test_a_batch_that_fails_keeps_nothing_of_itself_before_the_events_run_alone(
    tenant, cloud_connection, payload, monkeypatch
):
    """The first good event's message is not stored twice: the batch's transaction rolled back
    whole before each event ran again on its own."""
    from tickets.tests.factories import TicketFactory

    TicketFactory(tenant=tenant, connection=cloud_connection, status=Ticket.Status.OPEN,
                  contact__wa_id="5511911110000", contact__phone="5511911110000")  # fmt: skip
    events = [
        InboundEventFactory(
            tenant=tenant, connection=cloud_connection, body=_text_from(payload, f"wamid.F{n}", "5511911110000", text)
        )  # fmt: skip
        for n, text in enumerate(["fine", "boom", "fine again"])
    ]
    original = inbound._apply

    def failing(connection, item):
        if getattr(item, "text", "") == "boom":
            raise RuntimeError("provider sent something odd")
        original(connection, item)

    monkeypatch.setattr(inbound, "_apply", failing)
    with tenant_context(tenant):
        results = inbound.inbound_events_process(event_ids=[event.pk for event in events])
    assert list(results.values()) == [
        InboundEventStatus.PROCESSED,
        InboundEventStatus.FAILED,
        InboundEventStatus.PROCESSED,
    ]
    assert list(Message.all_tenants.filter(tenant=tenant).order_by("id").values_list("text", flat=True)) == [
        "fine",
        "fine again",
    ]
    assert InboundEvent.all_tenants.get(pk=events[1].pk).error == "RuntimeError: provider sent something odd"
