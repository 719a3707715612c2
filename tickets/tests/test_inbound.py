"""tickets.inbound: opening tickets and storing messages from normalized events, under real concurrency."""

import json
import threading
from datetime import UTC, datetime

import pytest
from django.db import connection as db_connection

from crm.models import Contact
from tenants.context import tenant_context
from tickets.inbound import inbound_message_apply
from tickets.models import Message, TenantSequence, Ticket
from tickets.sequences import sequence_next, ticket_protocol_next
from whatsapp.choices import InboundEventStatus, MessageType
from whatsapp.inbound import inbound_event_process
from whatsapp.providers.base import IncomingMessage
from whatsapp.tests.factories import ConnectionFactory, InboundEventFactory


def _incoming(connection, message_id, text="Oi", wa_id="5511987654321"):
    return IncomingMessage(
        channel_id=connection.phone_number_id, provider_message_id=message_id, chat_id=wa_id, phone=wa_id,
        timestamp=datetime(2025, 6, 23, 12, 0, tzinfo=UTC), type=MessageType.TEXT, text=text, profile_name="Ana",
    )  # fmt: skip


def _cloud_body(phone_number_id, message_id, text, wa_id="5511987654321", entry_id="1"):
    message = {"from": wa_id, "id": message_id, "timestamp": "1750680000", "type": "text", "text": {"body": text}}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511930001234", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": wa_id}],
        "messages": [message],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": entry_id, "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.mark.django_db
def test_protocols_count_up_per_tenant(tenant, other_tenant):
    with tenant_context(tenant):
        assert [ticket_protocol_next(tenant=tenant) for _ in range(3)] == [1, 2, 3]
        assert sequence_next(tenant=tenant, name="other") == 1
    with tenant_context(other_tenant):
        assert ticket_protocol_next(tenant=other_tenant) == 1
    assert TenantSequence.all_tenants.get(tenant=tenant, name="ticket_protocol").value == 3


@pytest.mark.django_db
def test_redelivered_message_is_stored_once(tenant):
    connection = ConnectionFactory(tenant=tenant)
    with tenant_context(tenant):
        first = inbound_message_apply(connection=connection, incoming=_incoming(connection, "wamid.A"))
        again = inbound_message_apply(connection=connection, incoming=_incoming(connection, "wamid.A"))
    assert first is not None
    assert again is None
    assert Message.all_tenants.count() == 1
    assert Ticket.all_tenants.get().unread_count == 1


@pytest.mark.django_db(transaction=True)
def test_two_first_messages_at_once_open_one_ticket_and_one_contact(tenant):
    """Two workers process two events of a brand-new contact at the same moment."""
    connection = ConnectionFactory(tenant=tenant)
    events = [
        InboundEventFactory(
            tenant=tenant,
            connection=connection,
            body=_cloud_body(connection.phone_number_id, f"wamid.RACE{n}", f"mensagem {n}"),
        )  # fmt: skip
        for n in range(2)
    ]
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def work(event):
        try:
            with tenant_context(tenant):
                barrier.wait(timeout=5)
                results[event.pk] = inbound_event_process(event_id=event.pk)
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=work, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(results.values()) == [InboundEventStatus.PROCESSED] * 2
    assert Contact.all_tenants.count() == 1
    ticket = Ticket.all_tenants.get()
    assert ticket.protocol in (1, 2)
    assert ticket.unread_count == 2
    assert Message.all_tenants.filter(ticket=ticket).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_same_message_in_two_bodies_at_once_is_stored_once(tenant):
    connection = ConnectionFactory(tenant=tenant)
    # Two deliveries (different bodies) of the same message.
    bodies = [_cloud_body(connection.phone_number_id, "wamid.SAME", "oi", entry_id=entry) for entry in ("1", "2")]
    events = [InboundEventFactory(tenant=tenant, connection=connection, body=body) for body in bodies]
    barrier = threading.Barrier(2)
    results = []

    def work(event):
        try:
            with tenant_context(tenant):
                barrier.wait(timeout=5)
                results.append(inbound_event_process(event_id=event.pk))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=work, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [InboundEventStatus.PROCESSED] * 2
    assert Message.all_tenants.count() == 1
    assert Ticket.all_tenants.get().unread_count == 1
