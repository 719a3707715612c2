# ruff: noqa: F401, F811 — pytest fixtures imported from whatsapp.tests.inbound_fixtures
"""Processing stored events: statuses, connection changes, media, failures and retries, events, queries."""

import hashlib
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.storage import default_storage

from tenants.context import tenant_context
from tickets.models import Message, MessageWord, Ticket
from tickets.tests.factories import MessageFactory, TicketFactory
from whatsapp.choices import ConnectionStatus, DeliveryStatus, InboundEventStatus
from whatsapp.inbound import inbound_event_process, inbound_event_retry, inbound_events_process
from whatsapp.models import InboundEvent
from whatsapp.tests.factories import InboundEventFactory
from whatsapp.tests.inbound_fixtures import (
    cloud_connection,
    deliver,
    evolution_connection,
    published,
)

pytestmark = pytest.mark.django_db

SENT_WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjRGQjk2QzM2NjQ1QkU2RkI0OAA="
FAILED_WAMID = "wamid.HBgNNTUxMTg3NjU0MzIxFQIAERgSNUE2QjdDOEQ5RTBGMUEyQjMA"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"caixa amassada" * 50


def _outbound(tenant, connection, provider_message_id, status=DeliveryStatus.SENT):
    ticket = TicketFactory(tenant=tenant, connection=connection)
    return MessageFactory(
        tenant=tenant, ticket=ticket, direction=Message.Direction.OUTBOUND, sender_type=Message.SenderType.AGENT,
        provider_message_id=provider_message_id, status=status,
    )  # fmt: skip


# --- statuses ---------------------------------------------------------------------------------


def test_statuses_move_forward_duplicates_are_no_ops_and_failed_is_explained(
    tenant, cloud_connection, payload, deliver
):
    sent = _outbound(tenant, cloud_connection, SENT_WAMID, DeliveryStatus.PENDING)
    failing = _outbound(tenant, cloud_connection, FAILED_WAMID, DeliveryStatus.SENT)
    deliver(cloud_connection, payload("cloud/statuses"))  # sent, delivered, delivered, read, failed, deleted
    sent.refresh_from_db()
    failing.refresh_from_db()
    assert sent.status == DeliveryStatus.READ
    assert failing.status == DeliveryStatus.FAILED
    assert (failing.error_code, failing.error_title) == ("131047", "Re-engagement message")
    assert failing.error_detail.startswith("More than 24 hours have passed since the customer last wrote.")
    assert "Message failed to send because more than 24 hours" in failing.error_detail
    assert InboundEvent.all_tenants.get().status == InboundEventStatus.PROCESSED


def test_a_late_status_never_moves_a_message_back(tenant, cloud_connection, payload, deliver):
    message = _outbound(tenant, cloud_connection, SENT_WAMID, DeliveryStatus.READ)
    deliver(cloud_connection, payload("cloud/statuses"))  # sent, delivered: older than read
    message.refresh_from_db()
    assert message.status == DeliveryStatus.READ


def test_failed_never_replaces_delivered(tenant, cloud_connection, payload, deliver):
    message = _outbound(tenant, cloud_connection, FAILED_WAMID, DeliveryStatus.DELIVERED)
    deliver(cloud_connection, payload("cloud/statuses"))
    message.refresh_from_db()
    assert (message.status, message.error_code) == (DeliveryStatus.DELIVERED, "")


def test_evolution_acks_out_of_order(tenant, evolution_connection, payload, deliver):
    message = _outbound(tenant, evolution_connection, "3EB0FFEEDDCCBBAA998877")
    deliver(evolution_connection, payload("evolution/messages_update_read"))
    deliver(evolution_connection, payload("evolution/messages_update_delivered_numeric"))
    message.refresh_from_db()
    assert message.status == DeliveryStatus.READ


def test_a_status_for_an_unknown_message_is_ignored(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/statuses"))
    assert Message.all_tenants.count() == 0
    assert InboundEvent.all_tenants.get().status == InboundEventStatus.PROCESSED


# --- connection -------------------------------------------------------------------------------


def test_connection_updates_change_the_status(evolution_connection, payload, deliver):
    deliver(evolution_connection, payload("evolution/connection_update_open"))
    evolution_connection.refresh_from_db()
    assert evolution_connection.status == ConnectionStatus.CONNECTED
    assert evolution_connection.last_status_at is not None
    deliver(evolution_connection, payload("evolution/connection_update_close"))
    evolution_connection.refresh_from_db()
    assert evolution_connection.status == ConnectionStatus.DISCONNECTED


def test_a_provider_notice_is_logged(cloud_connection, payload, deliver, caplog):
    deliver(cloud_connection, payload("cloud/errors"))
    assert any(record.message == "provider notice" and record.code == "130429" for record in caplog.records)
    assert InboundEvent.all_tenants.get().status == InboundEventStatus.PROCESSED


# --- media ------------------------------------------------------------------------------------


def test_cloud_media_is_downloaded_into_the_tenant_folder(tenant, cloud_connection, fake_graph, payload, deliver):
    fake_graph.add_media("1029384756473829", JPEG, "image/jpeg")
    deliver(cloud_connection, payload("cloud/image"))
    message = Message.all_tenants.get()
    assert message.media_status == Message.MediaStatus.READY
    assert message.media_file.name.startswith(f"tenants/{tenant.pk}/media/")
    assert message.media_file.name.endswith(".jpg")
    assert (message.media_mime, message.media_size) == ("image/jpeg", len(JPEG))
    assert message.media_sha256 == hashlib.sha256(JPEG).hexdigest()
    with default_storage.open(message.media_file.name) as stored:
        assert stored.read() == JPEG
    default_storage.delete(message.media_file.name)


def test_evolution_media_is_downloaded(tenant, evolution_connection, fake_evolution, payload, deliver):
    fake_evolution.add_media("3AAF5B3D4C2A1F0E9D8C", b"%PDF-1.4 orcamento", "application/pdf", "orcamento.pdf")
    deliver(evolution_connection, payload("evolution/document"))
    message = Message.all_tenants.get()
    assert message.media_status == Message.MediaStatus.READY
    assert message.media_file.name.endswith(".pdf")
    assert message.media_size == len(b"%PDF-1.4 orcamento")
    default_storage.delete(message.media_file.name)


def test_a_failed_download_keeps_the_message(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/image"))  # the fake knows no such media id
    message = Message.all_tenants.get()
    assert message.media_status == Message.MediaStatus.FAILED
    assert message.text == "Foto da caixa amassada"
    assert not message.media_file


# --- failures and retries ---------------------------------------------------------------------


def test_a_failing_event_is_kept_failed_and_a_retry_succeeds(tenant, cloud_connection, payload, deliver, monkeypatch):
    from tickets import inbound

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(inbound, "route_inbound_message", broken)
    deliver(cloud_connection, payload("cloud/text"))
    event = InboundEvent.all_tenants.get()
    assert (event.status, event.attempts) == (InboundEventStatus.FAILED, 1)
    assert "RuntimeError: database hiccup" in event.error
    assert Message.all_tenants.count() == 0  # the failed event's writes were rolled back
    assert Ticket.all_tenants.count() == 0

    monkeypatch.undo()
    with tenant_context(tenant):
        assert inbound_event_retry(events_to_retry=[event]) == 1
    # The retry was enqueued on commit; in tests run it the way the worker would.
    with tenant_context(tenant):
        assert inbound_event_process(event_id=event.pk) == InboundEventStatus.PROCESSED
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == (InboundEventStatus.PROCESSED, 2, "")
    assert Message.all_tenants.count() == 1


def test_an_unparseable_body_fails_and_is_kept(tenant, cloud_connection):
    event = InboundEventFactory(tenant=tenant, connection=cloud_connection, body=b"not json")
    with tenant_context(tenant):
        assert inbound_event_process(event_id=event.pk) == InboundEventStatus.FAILED
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEventStatus.FAILED, 1)
    assert "JSONDecodeError" in event.error


def test_processing_a_processed_event_again_does_nothing(tenant, cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/text"))
    event = InboundEvent.all_tenants.get()
    Message.all_tenants.all().delete()
    with tenant_context(tenant):
        assert inbound_event_process(event_id=event.pk) == InboundEventStatus.PROCESSED
        assert inbound_event_retry(events_to_retry=[event]) == 0
    assert Message.all_tenants.count() == 0
    event.refresh_from_db()
    assert event.attempts == 1


# --- real-time events -------------------------------------------------------------------------


def test_events_are_broadcast_to_staff_after_commit(tenant, cloud_connection, payload, deliver, layer_listener):
    channel = layer_listener.listen(f"tenant.{tenant.pk}.staff")
    deliver(cloud_connection, payload("cloud/text"))
    deliver(cloud_connection, payload("cloud/image"))
    received = layer_listener.events(channel, 4)
    assert [event["type"] for event in received] == [
        "ticket.created", "message.created",  # the first message opens the ticket
        "message.created", "message.updated",  # the image (its ticket inside), then its failed download
    ]  # fmt: skip
    ticket = Ticket.all_tenants.get()
    assert received[0]["data"]["id"] == ticket.pk
    assert received[0]["data"]["unread_count"] == 1
    assert received[1]["data"]["text"].startswith("Olá! Meu pedido")
    assert received[1]["data"]["ticket"] == received[0]["data"]
    assert received[2]["data"]["ticket"]["id"] == ticket.pk
    assert received[2]["data"]["ticket"]["unread_count"] == 2
    assert received[2]["data"]["media_status"] == "pending"
    assert received[3]["data"]["media_status"] == "failed"
    assert layer_listener.nothing_waiting(channel)


def test_nothing_is_broadcast_before_commit(tenant, cloud_connection, payload, published, layer_listener):
    from whatsapp.tests.inbound_fixtures import post_webhook

    post_webhook(cloud_connection, payload("cloud/text"))  # stored; processing waits for the commit
    event = InboundEvent.all_tenants.get()
    channel = layer_listener.listen(f"tenant.{tenant.pk}.staff")
    with tenant_context(tenant):
        inbound_event_process(event_id=event.pk)  # inside the test's transaction: never committed
    assert [(groups, event_type) for groups, event_type, _ in published] == [
        ([f"tenant.{tenant.pk}.agents", f"tenant.{tenant.pk}.staff"], "ticket.created"),
        ([f"tenant.{tenant.pk}.agents", f"tenant.{tenant.pk}.staff"], "message.created"),
    ]
    assert layer_listener.nothing_waiting(channel)


# --- query budget -----------------------------------------------------------------------------


def _text_body(payload, message_id: str) -> bytes:
    body = json.loads(payload("cloud/text"))
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = message_id
    return json.dumps(body).encode()


# Statements of one text message of an open ticket: BEGIN, the event (locked), the contact and its
# open ticket (both locked, the ticket with queue, assignee and has_tags: one statement), the
# message INSERT … ON CONFLICT DO NOTHING with the ticket + contact UPDATEs in the same statement,
# the latest campaign message (none), the event's status UPDATE, COMMIT. Issue 6's budget is 12.
STATEMENTS_PER_MESSAGE_OF_AN_OPEN_TICKET = 7
# In a batch (whatsapp.inbound._process_together), each such message costs the contact with its
# open ticket and the INSERT with its UPDATEs; the batch once: its events' bodies, their connection,
# which senders have an active ticket (all three before the transaction, to reserve protocol numbers
# if some have none), BEGIN, the events (locked), whether campaigns went out lately, the events'
# statuses UPDATE, COMMIT.
STATEMENTS_PER_MESSAGE_IN_A_BATCH = 2
STATEMENTS_PER_BATCH = 8


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count", [3, 8])
def test_a_batch_of_messages_of_an_open_ticket_costs_2_statements_each(
    tenant, cloud_connection, payload, django_assert_num_queries, count
):
    """Measured as in production: the batch is a real BEGIN/COMMIT, not a savepoint inside the
    test's transaction."""
    from tickets.tests.factories import QueueFactory, TicketFactory

    contact_ticket = TicketFactory(tenant=tenant, connection=cloud_connection, contact__wa_id="5511987654321",
                                   contact__phone="5511987654321", contact__profile_name="João Conceição",
                                   queue=QueueFactory(tenant=tenant), status=Ticket.Status.OPEN)  # fmt: skip
    events = [
        InboundEventFactory(tenant=tenant, connection=cloud_connection, body=_text_body(payload, f"wamid.B{n}"))
        for n in range(count)
    ]
    with (
        tenant_context(tenant),
        django_assert_num_queries(STATEMENTS_PER_BATCH + count * STATEMENTS_PER_MESSAGE_IN_A_BATCH),
    ):
        statuses = inbound_events_process(event_ids=[event.pk for event in events])
    assert set(statuses.values()) == {InboundEventStatus.PROCESSED}
    contact_ticket.refresh_from_db()
    assert contact_ticket.unread_count == count
    assert Message.all_tenants.filter(ticket=contact_ticket).count() == count
    assert set(InboundEvent.all_tenants.filter(pk__in=[e.pk for e in events]).values_list("attempts", flat=True)) == {1}
    # The batch's INSERT gave every message its search words (tickets 0008's trigger), in the count.
    words = MessageWord.all_tenants.filter(ticket_id=contact_ticket.pk)
    assert words.values("message_id").distinct().count() == count


@pytest.mark.django_db(transaction=True)
def test_one_text_message_of_an_open_ticket_alone_costs_one_more_statement_its_connection(
    tenant, cloud_connection, payload, django_assert_num_queries
):
    from tickets.tests.factories import TicketFactory

    TicketFactory(tenant=tenant, connection=cloud_connection, contact__wa_id="5511987654321",
                  contact__phone="5511987654321", contact__profile_name="João Conceição",
                  status=Ticket.Status.OPEN)  # fmt: skip
    event = InboundEventFactory(tenant=tenant, connection=cloud_connection, body=payload("cloud/text"))
    with tenant_context(tenant), django_assert_num_queries(1 + STATEMENTS_PER_MESSAGE_OF_AN_OPEN_TICKET):
        assert inbound_event_process(event_id=event.pk) == InboundEventStatus.PROCESSED


# A new customer's first message in a batch: the sender's lookup (nobody), the contact's INSERT,
# the ticket's INSERT with its `created` event, the message's INSERT with the counters, and the
# routing into the connection's default queue — its `queue_chosen` event and the ticket's UPDATE.
# No savepoint: the INSERTs skip a row a unique index refuses (config.sql.insert) instead of failing.
STATEMENTS_PER_NEW_CUSTOMER_IN_A_BATCH = 6
# Once per batch beside STATEMENTS_PER_BATCH: the protocol numbers reserved for the new tickets,
# the flows a new ticket triggers (none), whether an AI agent answers new tickets (none), the
# connection's default queue.
STATEMENTS_PER_BATCH_OPENING_TICKETS = STATEMENTS_PER_BATCH + 4


def _text_body_from(payload, message_id: str, wa_id: str) -> bytes:
    body = json.loads(_text_body(payload, message_id))
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"][0]["from"] = value["contacts"][0]["wa_id"] = wa_id
    return json.dumps(body).encode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count", [2, 5])
def test_a_batch_of_new_customers_costs_6_statements_each(
    tenant, cloud_connection, payload, django_assert_num_queries, count
):
    from tickets.models import TicketEvent
    from tickets.tests.factories import QueueFactory

    queue = QueueFactory(tenant=tenant)
    cloud_connection.default_queue = queue
    cloud_connection.save(update_fields=["default_queue"])
    events = [
        InboundEventFactory(
            tenant=tenant,
            connection=cloud_connection,
            body=_text_body_from(payload, f"wamid.N{n}", f"55119876500{n:02d}"),
        )
        for n in range(count)
    ]
    with (
        tenant_context(tenant),
        django_assert_num_queries(
            STATEMENTS_PER_BATCH_OPENING_TICKETS + count * STATEMENTS_PER_NEW_CUSTOMER_IN_A_BATCH
        ),
    ):
        statuses = inbound_events_process(event_ids=[event.pk for event in events])
    assert set(statuses.values()) == {InboundEventStatus.PROCESSED}
    tickets = Ticket.all_tenants.filter(tenant=tenant).order_by("protocol")
    assert [(t.contact.wa_id, t.queue_id, t.unread_count) for t in tickets] == [
        (f"55119876500{n:02d}", queue.pk, 1) for n in range(count)
    ]
    assert sorted(TicketEvent.all_tenants.filter(tenant=tenant).values_list("type", "data")) == sorted(
        [(TicketEvent.Type.CREATED, {"source": "whatsapp"}) for _ in range(count)]
        + [(TicketEvent.Type.QUEUE_CHOSEN, {"queue": queue.pk, "how": "default"}) for _ in range(count)]
    )
