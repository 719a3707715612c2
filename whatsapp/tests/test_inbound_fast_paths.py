# ruff: noqa: F401, F811 — pytest fixtures imported from whatsapp.tests.inbound_fixtures
"""What the fast inbound path must keep exact: event payloads equal to the API's, one on-commit send
per transaction in publishing order, and redeliveries that change nothing."""

import json

import pytest
from django.db import transaction

from accounts.models import Role
from crm.api.serializers import ContactSerializer
from crm.tests.factories import TagFactory
from tenants.context import tenant_context
from tickets import events
from tickets.api.serializers import MessageSerializer, TicketSerializer
from tickets.models import Message, Ticket
from tickets.tests.factories import MessageFactory, QueueFactory, TicketFactory
from tickets.tests.layer import event_of
from whatsapp.choices import InboundEventStatus
from whatsapp.inbound import inbound_event_process
from whatsapp.tests.factories import InboundEventFactory
from whatsapp.tests.inbound_fixtures import cloud_connection, deliver, published

pytestmark = pytest.mark.django_db

CLOUD_MESSAGE_FIXTURES = [
    "text", "text_reply", "image", "audio", "voice", "video", "document", "sticker", "location", "contacts",
    "button", "interactive_button_reply", "interactive_list_reply", "system", "unsupported", "echo",
]  # fmt: skip


# --- payloads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", CLOUD_MESSAGE_FIXTURES)
def test_message_payloads_equal_the_api_serializer_for_every_message_type(
    tenant, cloud_connection, payload, deliver, published, fixture
):
    deliver(cloud_connection, payload(f"cloud/{fixture}"))
    created = [data for _groups, kind, data in published if kind == "message.created"]
    assert created, fixture
    with tenant_context(tenant):
        for data in created:
            message = Message.objects.get(pk=data["id"])
            # the payload as built now from the stored row, and as the API renders it
            assert events._message_data(message) == MessageSerializer(message).data
            assert json.loads(json.dumps(data, default=str))["type"] == message.type


def test_ticket_and_contact_payloads_equal_the_api_serializer(tenant, make_member):
    agent = make_member(tenant, Role.AGENT)
    vip, late = TagFactory(tenant=tenant, name="vip"), TagFactory(tenant=tenant, name="atraso")
    tagged = TicketFactory(tenant=tenant, queue=QueueFactory(tenant=tenant), assignee=agent, status=Ticket.Status.OPEN)
    tagged.tags.add(vip, late)
    tagged.contact.tags.add(late)
    plain = TicketFactory(tenant=tenant)
    author = MessageFactory(tenant=tenant, ticket=tagged, author=agent, direction=Message.Direction.OUTBOUND)
    with tenant_context(tenant):
        for ticket in (tagged, plain, tagged):  # reused serializers keep nothing of the previous object
            ticket = Ticket.objects.get(pk=ticket.pk)
            assert events.ticket_data(ticket) == TicketSerializer(ticket).data
            assert events.ticket_data(ticket)["contact"] == ContactSerializer(ticket.contact).data
        assert [tag["name"] for tag in events.ticket_data(tagged)["tags"]] == ["atraso", "vip"]
        assert events._message_data(author)["author"]["id"] == agent.pk


@pytest.mark.parametrize("tagged", [False, True])
def test_inbound_payload_tags_are_those_in_the_database(tenant, cloud_connection, payload, published, tagged):
    """The untagged shortcut (no tag query) must never hide a tag."""
    ticket = TicketFactory(tenant=tenant, connection=cloud_connection, contact__wa_id="5511987654321",
                           contact__phone="5511987654321", status=Ticket.Status.OPEN)  # fmt: skip
    if tagged:
        ticket.tags.add(TagFactory(tenant=tenant, name="vip"))
        ticket.contact.tags.add(TagFactory(tenant=tenant, name="atacado"))
    event = InboundEventFactory(tenant=tenant, connection=cloud_connection, body=payload("cloud/text"))
    with tenant_context(tenant):
        assert inbound_event_process(event_id=event.pk) == InboundEventStatus.PROCESSED
        fresh = TicketSerializer(Ticket.objects.get(pk=ticket.pk)).data
    (data,) = [data["ticket"] for _groups, kind, data in published if kind == "message.created"]
    assert data["tags"] == fresh["tags"]
    assert data["contact"]["tags"] == fresh["contact"]["tags"]
    assert len(data["tags"]) == len(data["contact"]["tags"]) == (1 if tagged else 0)


# --- redeliveries -------------------------------------------------------------------------------


def test_a_message_redelivered_in_another_body_changes_nothing(tenant, cloud_connection, payload, published):
    ticket = TicketFactory(tenant=tenant, connection=cloud_connection, contact__wa_id="5511987654321",
                           contact__phone="5511987654321", status=Ticket.Status.OPEN)  # fmt: skip
    body = payload("cloud/text")
    again = json.dumps(json.loads(body)).encode()  # same message, other bytes: a new InboundEvent
    assert again != body
    first = InboundEventFactory(tenant=tenant, connection=cloud_connection, body=body)
    second = InboundEventFactory(tenant=tenant, connection=cloud_connection, body=again)
    with tenant_context(tenant):
        assert inbound_event_process(event_id=first.pk) == InboundEventStatus.PROCESSED
        ticket.refresh_from_db()
        before = (ticket.unread_count, ticket.updated_at, len(published))
        assert inbound_event_process(event_id=second.pk) == InboundEventStatus.PROCESSED
        ticket.refresh_from_db()
        assert (ticket.unread_count, ticket.updated_at, len(published)) == before
        assert Message.objects.count() == 1


# --- one send per transaction -------------------------------------------------------------------


def test_a_transactions_events_go_in_one_callback_in_publishing_order(
    tenant, layer_listener, django_capture_on_commit_callbacks
):
    staff = layer_listener.listen(events.staff_group(tenant.pk))
    agents = layer_listener.listen(events.agents_group(tenant.pk))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            events.publish({events.staff_group(tenant.pk)}, "first", {"n": 1})
            events.publish({events.staff_group(tenant.pk), events.agents_group(tenant.pk)}, "second", {"n": 2})
            events.publish({events.staff_group(tenant.pk)}, "third", {"n": 3})
    assert len(callbacks) == 1
    callbacks[0]()
    assert [event["type"] for event in layer_listener.events(staff, 3)] == ["first", "second", "third"]
    assert layer_listener.events(agents, 1) == [{"type": "second", "data": {"n": 2}}]


def test_other_side_effects_keep_their_place_between_events(tenant, django_capture_on_commit_callbacks):
    order = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            events.publish({events.staff_group(tenant.pk)}, "before", {})
            transaction.on_commit(lambda: order.append("task enqueued"))
            events.publish({events.staff_group(tenant.pk)}, "after", {})
    assert len(callbacks) == 3
    kinds = [event_of(callback.deliveries[0][1])["type"] if hasattr(callback, "deliveries") else None
             for callback in callbacks]  # fmt: skip
    assert kinds == ["before", None, "after"]
    callbacks[1]()
    assert order == ["task enqueued"]


def test_events_of_a_rolled_back_savepoint_are_never_sent(tenant, layer_listener, django_capture_on_commit_callbacks):
    staff = layer_listener.listen(events.staff_group(tenant.pk))
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            events.publish({events.staff_group(tenant.pk)}, "kept", {"n": 1})
            try:
                with transaction.atomic():
                    events.publish({events.staff_group(tenant.pk)}, "rolled back", {"n": 2})
                    raise RuntimeError
            except RuntimeError:
                pass
            events.publish({events.staff_group(tenant.pk)}, "kept too", {"n": 3})
    assert [event["type"] for event in layer_listener.events(staff, 2)] == ["kept", "kept too"]
    assert layer_listener.nothing_waiting(staff)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_an_event_is_sent_at_once(tenant, layer_listener):
    staff = layer_listener.listen(events.staff_group(tenant.pk))
    events.publish({events.staff_group(tenant.pk)}, "now", {"n": 1})
    assert layer_listener.events(staff, 1) == [{"type": "now", "data": {"n": 1}}]


def test_the_message_insert_passes_every_value_as_djangos_save_would(tenant, cloud_connection):
    """config.sql.insert prepares the INSERT's values itself where Django's preparation changes
    nothing; for every column the result must be what `get_db_prep_save` gives."""
    from django.db import connection as db_connection
    from django.utils import timezone

    from config import sql
    from tickets.tests.factories import TicketFactory

    ticket = TicketFactory(tenant=tenant, connection=cloud_connection)
    message = Message(
        tenant_id=tenant.pk, ticket=ticket, connection=cloud_connection, direction=Message.Direction.INBOUND,
        sender_type=Message.SenderType.CONTACT, type="text", text="Olá", provider_message_id="wamid.X",
        payload={"forwarded": True}, latitude=-3.7, longitude=-38.5, sent_at=timezone.now(),
    )  # fmt: skip

    def comparable(value):
        return getattr(value, "obj", value)  # psycopg's Jsonb wrappers compare by identity

    for field, plain in sql.insert_fields(Message):
        value = field.pre_save(message, True)
        ours, djangos = sql.db_value(field, plain, value), field.get_db_prep_save(value, db_connection)
        assert (type(ours), comparable(ours)) == (type(djangos), comparable(djangos)), field.name
