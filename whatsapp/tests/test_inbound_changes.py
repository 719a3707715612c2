# ruff: noqa: F401, F811 — pytest fixtures imported from whatsapp.tests.inbound_fixtures
"""Edits and deletions for everyone reach the stored message through the real webhook endpoint."""

import copy
import json
from datetime import UTC, datetime

import pytest

from tickets.message_changes import deleted_preview
from tickets.models import Message
from whatsapp.choices import InboundEventStatus
from whatsapp.models import InboundEvent
from whatsapp.tests.inbound_fixtures import (
    CLOUD_PHONE_NUMBER_ID,
    EVOLUTION_INSTANCE,
    cloud_connection,
    deliver,
    evolution_connection,
    published,
)

pytestmark = pytest.mark.django_db

ORIGINAL_ID = "3EB0A1B2C3D4E5F6A7B8C9"  # the message of evolution/text_conversation.json
ORIGINAL_TEXT = "Olá! Meu pedido nº 1234 não chegou 😕"
CUSTOMER_JID = "5511987654321@s.whatsapp.net"
EDIT_TIME = datetime(2025, 6, 23, 12, 5, tzinfo=UTC)  # 1750680300


def _envelope(event: str, data, *, date_time="2025-06-23T09:05:00.000Z") -> dict:
    return {
        "event": event,
        "instance": EVOLUTION_INSTANCE,
        "data": data,
        "destination": "https://prosa.example.com/webhooks/whatsapp/abc/",
        "date_time": date_time,
        "sender": "5511930001234@s.whatsapp.net",
        "server_url": "https://evo.example.com",
        "apikey": None,
    }


def _edited_event(text: str, *, target=ORIGINAL_ID, timestamp_ms="1750680300000", **envelope) -> dict:
    """`messages.edited` as Evolution sends it: the Baileys protocolMessage itself."""
    return _envelope(
        "messages.edited",
        {
            "key": {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": target},
            "type": "MESSAGE_EDIT",
            "editedMessage": {"conversation": text},
            "timestampMs": timestamp_ms,
        },
        **envelope,
    )


def _protocol_upsert(protocol: dict, *, upsert_id="3EB0EDEDEDEDEDEDEDED01", wrapped=False) -> dict:
    """A protocolMessage delivered as a `messages.upsert` (older Evolution versions)."""
    message = {"protocolMessage": protocol}
    if wrapped:
        message = {"editedMessage": {"message": message}}
    return _envelope(
        "messages.upsert",
        {
            "key": {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": upsert_id},
            "pushName": "João Conceição",
            "status": "DELIVERY_ACK",
            "message": message,
            "messageType": "editedMessage" if wrapped else "protocolMessage",
            "messageTimestamp": 1750680300,
            "instanceId": "6f1c2a9e-3b7d-4e15-9a0c-2d8b5e7f4c31",
            "source": "android",
        },
    )


def _deleted_event(target=ORIGINAL_ID, **envelope) -> dict:
    """`messages.delete`: the revoked message's key (v2.3 adds `status: DELETED`)."""
    return _envelope(
        "messages.delete",
        {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": target, "status": "DELETED"},
        **envelope,
    )


@pytest.fixture
def original(evolution_connection, payload, deliver):
    deliver(evolution_connection, payload("evolution/text_conversation"))
    return Message.all_tenants.select_related("ticket").get()


def _fresh(message) -> Message:
    return Message.all_tenants.select_related("ticket").get(pk=message.pk)


# --- edits ------------------------------------------------------------------------------------


def test_an_edit_replaces_the_text_and_keeps_the_previous_one(evolution_connection, original, deliver, published):
    published.clear()
    deliver(evolution_connection, _edited_event("Olá! Meu pedido nº 1235 não chegou 😕"))

    message = _fresh(original)
    assert message.text == "Olá! Meu pedido nº 1235 não chegou 😕"
    assert message.edited_at == EDIT_TIME
    assert message.deleted_at is None
    assert message.payload["edits"] == [{"text": ORIGINAL_TEXT, "replaced_at": EDIT_TIME.isoformat()}]
    assert message.ticket.last_message_preview == "Olá! Meu pedido nº 1235 não chegou 😕"
    assert Message.all_tenants.count() == 1
    assert [event_type for _, event_type, _ in published] == ["message.updated", "ticket.updated"]
    data = published[0][2]
    assert (data["id"], data["text"], data["edited_at"], data["deleted_at"]) == (
        message.pk,
        "Olá! Meu pedido nº 1235 não chegou 😕",
        "2025-06-23T12:05:00Z",
        None,
    )
    assert published[1][2]["last_message_preview"] == "Olá! Meu pedido nº 1235 não chegou 😕"


def test_the_same_edit_delivered_twice_changes_nothing_the_second_time(
    evolution_connection, original, deliver, published
):
    deliver(evolution_connection, _edited_event("Corrigido"))
    first = _fresh(original)
    published.clear()
    # Another POST of the same edit (Evolution's retry with a new envelope time): stored, applied, no-op.
    deliver(evolution_connection, _edited_event("Corrigido", date_time="2025-06-23T09:06:00.000Z"))

    again = _fresh(original)
    assert InboundEvent.all_tenants.filter(status=InboundEventStatus.PROCESSED).count() == 3
    assert (again.text, again.edited_at, again.updated_at) == (first.text, first.edited_at, first.updated_at)
    assert len(again.payload["edits"]) == 1
    assert published == []


def test_two_edits_keep_the_whole_history_and_a_stale_one_is_ignored(evolution_connection, original, deliver):
    deliver(evolution_connection, _edited_event("Segunda versão", timestamp_ms="1750680300000"))
    deliver(evolution_connection, _edited_event("Terceira versão", timestamp_ms="1750680360000"))
    deliver(evolution_connection, _edited_event("Versão antiga", timestamp_ms="1750680330000"))

    message = _fresh(original)
    assert message.text == "Terceira versão"
    assert [edit["text"] for edit in message.payload["edits"]] == [ORIGINAL_TEXT, "Segunda versão"]
    assert message.edited_at == datetime(2025, 6, 23, 12, 6, tzinfo=UTC)


def test_an_edit_delivered_as_an_upsert_edits_the_target_and_stores_no_message(evolution_connection, original, deliver):
    protocol = {
        "key": {"remoteJid": CUSTOMER_JID, "fromMe": True, "id": ORIGINAL_ID},
        "type": 14,
        "editedMessage": {"extendedTextMessage": {"text": "Editado pelo celular"}},
        "timestampMs": {"low": 1750680300000 & 0xFFFFFFFF, "high": 1750680300000 >> 32, "unsigned": False},
    }
    deliver(evolution_connection, _protocol_upsert(protocol, wrapped=True))

    message = _fresh(original)
    assert message.text == "Editado pelo celular"
    assert message.edited_at == EDIT_TIME
    assert Message.all_tenants.count() == 1


def test_an_edit_in_messages_update_with_the_new_content_applies(evolution_connection, original, deliver):
    data = {
        "keyId": ORIGINAL_ID,
        "remoteJid": CUSTOMER_JID,
        "fromMe": False,
        "status": "SERVER_ACK",
        "message": {"editedMessage": {"message": {"conversation": "Versão do messages.update"}}},
        "instanceId": "6f1c2a9e-3b7d-4e15-9a0c-2d8b5e7f4c31",
    }
    deliver(evolution_connection, _envelope("messages.update", data))
    message = _fresh(original)
    assert message.text == "Versão do messages.update"
    assert message.edited_at is not None
    assert message.status == ""  # not taken for an ack of the customer's message


def test_an_edit_of_an_older_message_leaves_the_ticket_preview(evolution_connection, original, payload, deliver):
    later = json.loads(payload("evolution/text_conversation"))
    later["data"]["key"]["id"] = "3EB0LATERLATERLATER001"
    later["data"]["message"]["conversation"] = "Alguém aí?"
    later["data"]["messageTimestamp"] = 1750680100
    deliver(evolution_connection, later)

    deliver(evolution_connection, _edited_event("Texto corrigido"))
    message = _fresh(original)
    assert message.text == "Texto corrigido"
    assert message.ticket.last_message_preview == "Alguém aí?"


def test_an_edit_of_an_unknown_message_is_logged_and_ignored(evolution_connection, original, deliver, caplog):
    deliver(evolution_connection, _edited_event("Nada", target="3EB0DESCONHECIDA000001"))
    assert any(record.message == "edit of an unknown message ignored" for record in caplog.records)
    assert _fresh(original).text == ORIGINAL_TEXT
    assert InboundEvent.all_tenants.order_by("-pk").first().status == InboundEventStatus.PROCESSED


# --- deletions --------------------------------------------------------------------------------


def test_a_deletion_keeps_the_text_and_marks_the_message(evolution_connection, original, deliver, published):
    published.clear()
    deliver(evolution_connection, _deleted_event())

    message = _fresh(original)
    assert message.text == ORIGINAL_TEXT
    assert message.deleted_at is not None
    assert message.ticket.last_message_preview == deleted_preview()
    assert [event_type for _, event_type, _ in published] == ["message.updated", "ticket.updated"]
    assert published[0][2]["deleted_at"] is not None

    published.clear()
    deleted_at = message.deleted_at
    deliver(evolution_connection, _deleted_event(date_time="2025-06-23T09:07:00.000Z"))
    assert _fresh(original).deleted_at == deleted_at
    assert published == []


def test_a_revoke_delivered_as_an_upsert_deletes_the_target(evolution_connection, original, deliver):
    protocol = {"key": {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": ORIGINAL_ID}, "type": "REVOKE"}
    deliver(evolution_connection, _protocol_upsert(protocol))
    message = _fresh(original)
    assert message.deleted_at == EDIT_TIME
    assert Message.all_tenants.count() == 1


def test_a_revoke_sent_as_messages_edited_deletes_the_target(evolution_connection, original, deliver):
    # Evolution ≥ 2.3 forwards every protocolMessage as messages.edited, revokes included.
    data = {"key": {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": ORIGINAL_ID}, "type": "REVOKE"}
    deliver(evolution_connection, _envelope("messages.edited", data))
    assert _fresh(original).deleted_at is not None


def test_an_edit_after_the_deletion_is_ignored(evolution_connection, original, deliver):
    deliver(evolution_connection, _deleted_event())
    deliver(evolution_connection, _edited_event("Tarde demais"))
    message = _fresh(original)
    assert (message.text, message.edited_at) == (ORIGINAL_TEXT, None)


def test_messages_update_deleted_is_not_taken_for_a_revoke(evolution_connection, original, payload, deliver):
    # Versions that map status-less updates to DELETED do it for edits too: revokes come as messages.delete.
    body = json.loads(payload("evolution/messages_update_deleted"))
    body["data"]["keyId"] = ORIGINAL_ID
    deliver(evolution_connection, body)
    message = _fresh(original)
    assert (message.deleted_at, message.text) == (None, ORIGINAL_TEXT)


def test_a_deletion_of_an_unknown_message_is_logged_and_ignored(evolution_connection, original, deliver, caplog):
    deliver(evolution_connection, _deleted_event(target="3EB0DESCONHECIDA000002"))
    assert any(record.message == "deletion of an unknown message ignored" for record in caplog.records)
    assert _fresh(original).deleted_at is None


# --- Cloud API (coexistence numbers) -----------------------------------------------------------


def _cloud_change(payload, message: dict) -> dict:
    body = json.loads(payload("cloud/text"))
    value = body["entry"][0]["changes"][0]["value"]
    base = value["messages"][0]
    value["messages"] = [{"from": base["from"], "timestamp": "1750680300", **message}]
    return body


def test_cloud_edit_and_revoke_apply_to_the_original(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/text"))
    original = Message.all_tenants.select_related("ticket").get()

    edit = {
        "id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFkVESVQwMDAwMDAwMDAwMDAwMDAwMDAA",
        "type": "edit",
        "edit": {
            "original_message_id": original.provider_message_id,
            "message": {"type": "text", "text": {"body": "Pedido 1234 chegou, obrigado!"}},
        },
    }
    deliver(cloud_connection, _cloud_change(payload, edit))
    message = _fresh(original)
    assert message.text == "Pedido 1234 chegou, obrigado!"
    assert message.edited_at == EDIT_TIME
    assert message.payload["edits"][0]["text"] == original.text

    revoke = {
        "id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFlJFVk9LRTAwMDAwMDAwMDAwMDAwMDAA",
        "type": "revoke",
        "revoke": {"original_message_id": original.provider_message_id},
    }
    deliver(cloud_connection, _cloud_change(payload, copy.deepcopy(revoke)))
    message = _fresh(original)
    assert message.deleted_at == EDIT_TIME
    assert message.text == "Pedido 1234 chegou, obrigado!"
    assert Message.all_tenants.count() == 1
