"""Evolution API webhooks: shared-secret auth and parsing of every event and message kind."""

import json
from datetime import UTC, datetime

import pytest

from whatsapp.providers import get_adapter
from whatsapp.providers.base import (
    ConnectionStatus,
    ConnectionUpdate,
    DeliveryStatus,
    IncomingMessage,
    MalformedPayload,
    MessageType,
    SharedContact,
    StatusUpdate,
)
from whatsapp.providers.evolution import EvolutionAdapter
from whatsapp.tests.conftest import WEBHOOK_SECRET
from whatsapp.tests.fakes import PNG_1X1_BASE64

INSTANCE = "loja-centro"
JOAO_JID = "5511987654321@s.whatsapp.net"
JOAO = "5511987654321"


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@pytest.fixture
def adapter(evolution_conn):
    return get_adapter(evolution_conn)


def only(events):
    assert len(events) == 1, events
    return events[0]


def from_joao(**fields) -> IncomingMessage:
    base = {"channel_id": INSTANCE, "chat_id": JOAO_JID, "phone": JOAO, "profile_name": "João Conceição"}
    return IncomingMessage(**{**base, **fields})


class TestAuth:
    def test_bearer_header_with_the_connection_secret(self, adapter, payload):
        headers = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
        assert adapter.verify_webhook(headers=headers, body=payload("evolution/text_conversation"), query={})

    def test_secret_from_the_url_path(self, adapter, payload):
        body = payload("evolution/text_conversation")
        assert adapter.verify_webhook(headers={}, body=body, query={}, secret=WEBHOOK_SECRET)

    @pytest.mark.parametrize(
        "headers, secret",
        [
            ({}, None),
            ({"Authorization": "Bearer wrong"}, None),
            ({"Authorization": WEBHOOK_SECRET}, None),  # no "Bearer " scheme
            ({"Authorization": "Bearer "}, None),
            ({"apikey": WEBHOOK_SECRET}, None),
            ({}, "wrong"),
            ({}, ""),
            ({"Authorization": "Bearer wrong"}, "also-wrong"),
        ],
    )
    def test_refused(self, adapter, payload, headers, secret):
        body = payload("evolution/text_conversation")
        assert adapter.verify_webhook(headers=headers, body=body, query={}, secret=secret) is False

    def test_connection_without_secret_never_verifies(self, evolution_conn, payload):
        evolution_conn.webhook_secret = ""
        adapter = get_adapter(evolution_conn)
        assert adapter.verify_webhook(headers={"Authorization": "Bearer "}, body=b"{}", query={}, secret="") is False


# --- messages.upsert --------------------------------------------------------------------------


def test_conversation_text(adapter, payload):
    message = only(adapter.parse_webhook(payload("evolution/text_conversation")))
    assert message == from_joao(
        provider_message_id="3EB0A1B2C3D4E5F6A7B8C9",
        timestamp=ts(1750680000),
        type=MessageType.TEXT,
        text="Olá! Meu pedido nº 1234 não chegou 😕",
    )
    assert message.raw["key"]["id"] == "3EB0A1B2C3D4E5F6A7B8C9"


def test_extended_text_with_quote(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/text_extended_quoted"))) == from_joao(
        provider_message_id="3A5F0C8E9D7B6A5F4E3D",
        timestamp=ts(1750680060),
        type=MessageType.TEXT,
        text="Sim, é esse mesmo: https://loja.example.com.br/pedidos/1234",
        quoted_message_id="3EB0FFEEDDCCBBAA998877",
    )


def test_quote_found_inside_the_content_when_not_hoisted(adapter, payload):
    data = json.loads(payload("evolution/text_extended_quoted"))
    del data["data"]["contextInfo"]
    message = only(adapter.parse_webhook(json.dumps(data).encode()))
    assert message.quoted_message_id == "3EB0FFEEDDCCBBAA998877"


def test_image(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/image"))) == from_joao(
        provider_message_id="3A6B1D9F0E8C7B6A5F4E",
        timestamp=ts(1750680120),
        type=MessageType.IMAGE,
        text="Foto da caixa amassada",
        media_ref="3A6B1D9F0E8C7B6A5F4E",
        mime_type="image/jpeg",
        sha256="JqKvZ3bM3/xnC0HCRaLqVpdfD8a0oMq/YZ93V1Kx9QE=",
    )


def test_forwarded_video(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/video"))) == from_joao(
        provider_message_id="3A7C2E0A1F9D8C7B6A5F",
        timestamp=ts(1750680180),
        type=MessageType.VIDEO,
        text="Vídeo do problema",
        media_ref="3A7C2E0A1F9D8C7B6A5F",
        mime_type="video/mp4",
        sha256="8Xo7a2zG6QkTjv9p1m1Yc2JmJH3Uu3XkGm1rVt7bq2A=",
        forwarded=True,
    )


def test_audio(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/audio"))) == from_joao(
        provider_message_id="3A8D3F1B2A0E9D8C7B6A",
        timestamp=ts(1750680240),
        type=MessageType.AUDIO,
        media_ref="3A8D3F1B2A0E9D8C7B6A",
        mime_type="audio/mpeg",
        sha256="b2Xw9Y1dJcVtYqvQ8kq0Yp4z1M3hX6s8bTq1n0kS1cQ=",
    )


def test_ptt_is_a_voice_note(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/voice"))) == from_joao(
        provider_message_id="3A9E4A2C3B1F0E9D8C7B",
        timestamp=ts(1750680300),
        type=MessageType.VOICE,
        media_ref="3A9E4A2C3B1F0E9D8C7B",
        mime_type="audio/ogg; codecs=opus",
        sha256="m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI=",
    )


def test_document_with_caption_wrapper(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/document"))) == from_joao(
        provider_message_id="3AAF5B3D4C2A1F0E9D8C",
        timestamp=ts(1750680360),
        type=MessageType.DOCUMENT,
        text="Segue o orçamento",
        media_ref="3AAF5B3D4C2A1F0E9D8C",
        mime_type="application/pdf",
        filename="Orçamento 2025-06.pdf",
        sha256="grwfwe/ZPx0wAbdfbdeFUNItPZ0RylL8gGUvdt3YFqc=",
    )


def test_sticker(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/sticker"))) == from_joao(
        provider_message_id="3AB06C4E5D3B2A1F0E9D",
        timestamp=ts(1750680420),
        type=MessageType.STICKER,
        media_ref="3AB06C4E5D3B2A1F0E9D",
        mime_type="image/webp",
        sha256="HcwyCKrTKXHk0a00ms4HWIA76GY0Du6q4Z/iuwevw=",
    )


def test_location(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/location"))) == from_joao(
        provider_message_id="3AC17D5F6E4C3B2A1F0E",
        timestamp=ts(1750680480),
        type=MessageType.LOCATION,
        latitude=-23.561414,
        longitude=-46.655881,
        location_name="Museu de Arte de São Paulo",
        location_address="Av. Paulista, 1578 - Bela Vista, São Paulo - SP",
        location_url="https://masp.org.br/",
    )


def test_contact_vcard(adapter, payload):
    message = only(adapter.parse_webhook(payload("evolution/contact")))
    vcard = json.loads(payload("evolution/contact"))["data"]["message"]["contactMessage"]["vcard"]
    assert message == from_joao(
        provider_message_id="3AD28E6A7F5D4C3B2A1F",
        timestamp=ts(1750680540),
        type=MessageType.CONTACTS,
        contacts=(
            SharedContact(
                name="Márcia Gonçalves",
                phones=("+55 11 97777-6666",),
                wa_ids=("5511977776666",),
                emails=("marcia@example.com.br",),
                organization="Padaria Pão Quente",
                vcard=vcard,
            ),
        ),
    )


def test_reaction(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/reaction"))) == from_joao(
        provider_message_id="3AE39F7B8A6E5D4C3B2A",
        timestamp=ts(1750680780),
        type=MessageType.REACTION,
        reaction_to_id="3EB0FFEEDDCCBBAA998877",
        reaction_emoji="❤️",
    )


def test_reaction_removed(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/reaction_removed"))) == from_joao(
        provider_message_id="3AF4A08C9B7F6E5D4C3B",
        timestamp=ts(1750680840),
        type=MessageType.REACTION,
        reaction_to_id="3EB0FFEEDDCCBBAA998877",
        reaction_emoji=None,
    )


def test_buttons_response(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/buttons_response"))) == from_joao(
        provider_message_id="3A05B19DAC80A7F6E5D4",
        timestamp=ts(1750680600),
        type=MessageType.INTERACTIVE_REPLY,
        subtype="button_reply",
        reply_id="falar_atendente",
        reply_title="Falar com atendente",
        text="Falar com atendente",
        quoted_message_id="3EB0AABBCCDDEEFF001122",
    )


def test_list_response(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/list_response"))) == from_joao(
        provider_message_id="3A16C2AEBD91B8A7F6E5",
        timestamp=ts(1750680660),
        type=MessageType.INTERACTIVE_REPLY,
        subtype="list_reply",
        reply_id="fila_financeiro",
        reply_title="Financeiro",
        text="Financeiro",
        quoted_message_id="3EB0BBCCDDEEFF00112233",
    )


def test_from_me_never_takes_the_business_push_name(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/from_me"))) == from_joao(
        provider_message_id="3EB0C1D2E3F4A5B6C7D8E9",
        timestamp=ts(1750681080),
        type=MessageType.TEXT,
        text="Oi João, respondi pelo celular 👍",
        from_me=True,
        profile_name="",
    )


def test_send_message_echo_is_parsed_like_an_upsert(adapter, payload):
    data = json.loads(payload("evolution/from_me"))
    data["event"] = "send.message"
    message = only(adapter.parse_webhook(json.dumps(data).encode()))
    assert (message.provider_message_id, message.from_me, message.profile_name) == ("3EB0C1D2E3F4A5B6C7D8E9", True, "")


def test_lid_takes_the_phone_from_remote_jid_alt(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/lid"))) == IncomingMessage(
        channel_id=INSTANCE,
        provider_message_id="3A27D3BFCEA2C9B8A7F6",
        chat_id="148309127549012@lid",
        phone="551187654321",
        profile_name="Zoë Ñúñez 🌵",
        timestamp=ts(1750681140),
        type=MessageType.TEXT,
        text="Oi, sou eu de novo",
    )


def test_lid_without_alt_has_no_phone(adapter, payload):
    message = only(adapter.parse_webhook(payload("evolution/lid_without_alt")))
    assert (message.chat_id, message.phone, message.profile_name) == ("148309127549012@lid", None, "Zoë Ñúñez 🌵")


def test_group_message_is_flagged_with_the_participant_phone(adapter, payload):
    message = only(adapter.parse_webhook(payload("evolution/group")))
    assert (message.chat_id, message.is_group, message.phone, message.profile_name) == (
        "120363025246125888@g.us",
        True,
        "5521998877665",
        "Ana Lúcia",
    )


def test_status_broadcast_is_ignored(adapter, payload):
    assert adapter.parse_webhook(payload("evolution/status_broadcast")) == []


def test_poll_is_unsupported_with_its_kind(adapter, payload):
    message = only(adapter.parse_webhook(payload("evolution/poll")))
    assert (message.type, message.subtype, message.text) == (MessageType.UNSUPPORTED, "pollCreationMessageV3", "")


def test_timestamp_as_string_or_protobuf_long(adapter, payload):
    data = json.loads(payload("evolution/text_conversation"))
    data["data"]["messageTimestamp"] = "1750680000"
    assert only(adapter.parse_webhook(json.dumps(data).encode())).timestamp == ts(1750680000)
    data["data"]["messageTimestamp"] = {"low": 1750680000, "high": 0, "unsigned": True}
    assert only(adapter.parse_webhook(json.dumps(data).encode())).timestamp == ts(1750680000)


def test_upsert_without_key_id_is_malformed(adapter, payload):
    data = json.loads(payload("evolution/text_conversation"))
    del data["data"]["key"]["id"]
    with pytest.raises(MalformedPayload):
        adapter.parse_webhook(json.dumps(data).encode())


# --- acks, connection, QR code --------------------------------------------------------------------


def test_messages_update_is_flat_with_key_id(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/messages_update_read"))) == StatusUpdate(
        channel_id=INSTANCE,
        provider_message_id="3EB0FFEEDDCCBBAA998877",
        status=DeliveryStatus.READ,
        timestamp=None,
        recipient_id=JOAO,
        from_me=True,
    )


def test_messages_update_numeric_status(adapter, payload):
    update = only(adapter.parse_webhook(payload("evolution/messages_update_delivered_numeric")))
    assert (update.provider_message_id, update.status) == ("3EB0FFEEDDCCBBAA998877", DeliveryStatus.DELIVERED)


def test_messages_update_error_is_failed(adapter, payload):
    update = only(adapter.parse_webhook(payload("evolution/messages_update_error")))
    assert (update.provider_message_id, update.status, update.recipient_id, update.error_code) == (
        "3EB0A0A0A0A0A0A0A0A0A0",
        DeliveryStatus.FAILED,
        "551187654321",
        "",
    )


def test_messages_update_deleted_is_not_a_status(adapter, payload):
    assert adapter.parse_webhook(payload("evolution/messages_update_deleted")) == []


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("PENDING", DeliveryStatus.PENDING),
        ("SERVER_ACK", DeliveryStatus.SENT),
        ("DELIVERY_ACK", DeliveryStatus.DELIVERED),
        ("READ", DeliveryStatus.READ),
        ("PLAYED", DeliveryStatus.PLAYED),
        ("ERROR", DeliveryStatus.FAILED),
        (0, DeliveryStatus.FAILED),
        (1, DeliveryStatus.PENDING),
        (2, DeliveryStatus.SENT),
        (4, DeliveryStatus.READ),
        (5, DeliveryStatus.PLAYED),
    ],
)
def test_every_ack_name_and_number(adapter, payload, raw, expected):
    data = json.loads(payload("evolution/messages_update_read"))
    data["data"]["status"] = raw
    assert only(adapter.parse_webhook(json.dumps(data).encode())).status == expected


def test_connection_open(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/connection_update_open"))) == ConnectionUpdate(
        channel_id=INSTANCE,
        status=ConnectionStatus.CONNECTED,
        state="open",
        status_reason=200,
        phone="5511930001234",
        profile_name="Loja Prosa Centro",
    )


def test_connection_closed_by_logout(adapter, payload):
    update = only(adapter.parse_webhook(payload("evolution/connection_update_close")))
    assert update == ConnectionUpdate(
        channel_id=INSTANCE, status=ConnectionStatus.DISCONNECTED, state="close", status_reason=401
    )
    assert update.logged_out is True


def test_qrcode_updated_gives_a_data_url_kept_out_of_repr(adapter, payload):
    update = only(adapter.parse_webhook(payload("evolution/qrcode_updated")))
    assert update.status == ConnectionStatus.QRCODE
    assert update.qrcode == "data:image/png;base64," + PNG_1X1_BASE64
    assert update.raw == {}
    assert PNG_1X1_BASE64 not in repr(update)


def test_qrcode_limit_reached(adapter, payload):
    assert only(adapter.parse_webhook(payload("evolution/qrcode_limit"))) == ConnectionUpdate(
        channel_id=INSTANCE, status=ConnectionStatus.DISCONNECTED, state="refused", status_reason=500
    )


def test_unknown_events_are_ignored(adapter, payload):
    assert adapter.parse_webhook(payload("evolution/unknown_event")) == []


def test_upper_snake_event_names_are_understood(adapter, payload):
    data = json.loads(payload("evolution/text_conversation"))
    data["event"] = "MESSAGES_UPSERT"
    assert only(adapter.parse_webhook(json.dumps(data).encode())).provider_message_id == "3EB0A1B2C3D4E5F6A7B8C9"


def test_adapter_class(evolution_conn):
    assert type(get_adapter(evolution_conn)) is EvolutionAdapter
