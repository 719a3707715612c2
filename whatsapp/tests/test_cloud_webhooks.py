"""Cloud API webhooks: signature over the raw bytes, GET verification, and parsing of every payload kind."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from whatsapp.providers import get_adapter
from whatsapp.providers.base import (
    DeliveryStatus,
    IncomingMessage,
    MalformedPayload,
    MessageType,
    ProviderNotice,
    SharedContact,
    StatusUpdate,
)
from whatsapp.providers.cloud import CloudAdapter, phone_number_ids, signature_for
from whatsapp.tests.conftest import CLOUD_APP_SECRET, WEBHOOK_SECRET

PNID = "106540352242922"
JOAO = "5511987654321"
W = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA"


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def sign(body: bytes, secret: str = CLOUD_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def adapter(cloud_conn):
    return get_adapter(cloud_conn)


def only(events):
    assert len(events) == 1, events
    return events[0]


def from_joao(**fields) -> IncomingMessage:
    base = {
        "channel_id": PNID,
        "chat_id": JOAO,
        "phone": JOAO,
        "profile_name": "João Conceição",
    }
    return IncomingMessage(**{**base, **fields})


# --- signature ------------------------------------------------------------------------------


class TestSignature:
    def test_fixture_bytes_are_meta_style_escaped(self, payload):
        body = payload("cloud/text")
        assert b"\\u00e3" in body and b"\\/" in body and b"\\ud83d\\ude15" in body
        assert body.isascii() and b"\n" not in body

    def test_valid_signature_over_the_raw_bytes(self, adapter, payload):
        body = payload("cloud/text")
        headers = {"X-Hub-Signature-256": sign(body), "Content-Type": "application/json"}
        assert adapter.verify_webhook(headers=headers, body=body, query={}) is True

    def test_signature_computed_on_reserialized_json_does_not_verify(self, adapter, payload):
        body = payload("cloud/text")
        # What a framework that parses then re-dumps would hash: same data, different bytes.
        reserialized = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
        assert reserialized != body
        assert adapter.verify_webhook(headers={"X-Hub-Signature-256": sign(reserialized)}, body=body, query={}) is False

    def test_header_lookup_is_case_insensitive_and_accepts_django_meta(self, adapter, payload):
        body = payload("cloud/image")
        assert adapter.verify_webhook(headers={"x-hub-signature-256": sign(body)}, body=body, query={})
        assert adapter.verify_webhook(headers={"HTTP_X_HUB_SIGNATURE_256": sign(body)}, body=body, query={})

    def test_missing_signature(self, adapter, payload):
        body = payload("cloud/text")
        assert adapter.verify_webhook(headers={"Content-Type": "application/json"}, body=body, query={}) is False

    def test_wrong_secret(self, adapter, payload):
        body = payload("cloud/text")
        headers = {"X-Hub-Signature-256": sign(body, "another-apps-secret")}
        assert adapter.verify_webhook(headers=headers, body=body, query={}) is False

    def test_tampered_body(self, adapter, payload):
        body = payload("cloud/text")
        headers = {"X-Hub-Signature-256": sign(body)}
        tampered = body.replace(b"1234", b"9999")
        assert tampered != body
        assert adapter.verify_webhook(headers=headers, body=tampered, query={}) is False

    def test_legacy_sha1_header_alone_is_not_enough(self, adapter, payload):
        body = payload("cloud/text")
        legacy = "sha1=" + hmac.new(CLOUD_APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
        assert adapter.verify_webhook(headers={"X-Hub-Signature": legacy}, body=body, query={}) is False

    def test_signature_without_prefix_or_uppercase_is_rejected(self, adapter, payload):
        body = payload("cloud/text")
        digest = sign(body).removeprefix("sha256=")
        assert adapter.verify_webhook(headers={"X-Hub-Signature-256": digest}, body=body, query={}) is False
        upper = "sha256=" + digest.upper()
        assert adapter.verify_webhook(headers={"X-Hub-Signature-256": upper}, body=body, query={}) is False

    def test_connection_without_app_secret_never_verifies(self, cloud_conn, payload):
        cloud_conn.app_secret = ""
        body = payload("cloud/text")
        headers = {"X-Hub-Signature-256": signature_for(body, "")}
        assert get_adapter(cloud_conn).verify_webhook(headers=headers, body=body, query={}) is False

    def test_secret_in_the_url_must_match_when_given(self, adapter, payload):
        body = payload("cloud/text")
        headers = {"X-Hub-Signature-256": sign(body)}
        assert adapter.verify_webhook(headers=headers, body=body, query={}, secret=WEBHOOK_SECRET) is True
        assert adapter.verify_webhook(headers=headers, body=body, query={}, secret="wrong") is False
        # The path secret never replaces the HMAC.
        assert adapter.verify_webhook(headers={}, body=body, query={}, secret=WEBHOOK_SECRET) is False


class TestSubscriptionVerification:
    def test_answers_the_challenge(self, adapter):
        query = {"hub.mode": "subscribe", "hub.verify_token": "meu-token-de-verificacao", "hub.challenge": "1158201444"}
        assert adapter.verify_subscription(query) == "1158201444"

    @pytest.mark.parametrize(
        "query",
        [
            {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
            {"hub.mode": "unsubscribe", "hub.verify_token": "meu-token-de-verificacao", "hub.challenge": "1"},
            {"hub.verify_token": "meu-token-de-verificacao", "hub.challenge": "1158201444"},
            {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
            {"hub.mode": "subscribe", "hub.verify_token": "meu-token-de-verificacao"},
        ],
    )
    def test_refuses(self, adapter, query):
        assert adapter.verify_subscription(query) is None


# --- parsing: one message of every type ---------------------------------------------------------


def test_text(adapter, payload):
    message = only(adapter.parse_webhook(payload("cloud/text")))
    assert message == from_joao(
        provider_message_id=W + "xQTFCMkMzRDRFNUY2QTdCOEM5RDAA",
        timestamp=ts(1750680000),
        type=MessageType.TEXT,
        text="Olá! Meu pedido nº 1234 não chegou — vejam https://loja.example.com.br/pedidos/1234 😕",
    )
    assert message.timestamp.tzinfo is UTC
    assert message.raw["text"]["body"] == message.text


def test_text_quoting_a_business_message(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/text_reply"))) == from_joao(
        provider_message_id=W + "yQjJDM0Q0RTVGNkE3QjhDOUQwRTEA",
        timestamp=ts(1750680060),
        type=MessageType.TEXT,
        text="Sim, é esse mesmo",
        quoted_message_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjRGQjk2QzM2NjQ1QkU2RkI0OAA=",
    )


def test_image(adapter, payload):
    message = only(adapter.parse_webhook(payload("cloud/image")))
    assert message == from_joao(
        provider_message_id=W + "zQzNENEU1RjZBN0I4QzlEMEUxRjIA",
        timestamp=ts(1750680120),
        type=MessageType.IMAGE,
        text="Foto da caixa amassada",
        media_ref="1029384756473829",
        mime_type="image/jpeg",
        sha256="JqKvZ3bM3/xnC0HCRaLqVpdfD8a0oMq/YZ93V1Kx9QE=",
    )
    assert message.has_media


def test_forwarded_video(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/video"))) == from_joao(
        provider_message_id=W + "0RDRFNUY2QTdCOEM5RDBFMUYyQTMA",
        timestamp=ts(1750680180),
        type=MessageType.VIDEO,
        text="Vídeo do problema",
        media_ref="2039485761234567",
        mime_type="video/mp4",
        sha256="8Xo7a2zG6QkTjv9p1m1Yc2JmJH3Uu3XkGm1rVt7bq2A=",
        forwarded=True,
    )


def test_audio(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/audio"))) == from_joao(
        provider_message_id=W + "1RTVGNkE3QjhDOUQwRTFGMkEzQjQA",
        timestamp=ts(1750680240),
        type=MessageType.AUDIO,
        media_ref="3049586712345678",
        mime_type="audio/mpeg",
        sha256="b2Xw9Y1dJcVtYqvQ8kq0Yp4z1M3hX6s8bTq1n0kS1cQ=",
    )


def test_voice_note(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/voice"))) == from_joao(
        provider_message_id=W + "2RjZBN0I4QzlEMEUxRjJBM0I0QzUA",
        timestamp=ts(1750680300),
        type=MessageType.VOICE,
        media_ref="4059687123456789",
        mime_type="audio/ogg; codecs=opus",
        sha256="m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI=",
    )


def test_document(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/document"))) == from_joao(
        provider_message_id=W + "3QTdCOEM5RDBFMUYyQTNCNEM1RDYA",
        timestamp=ts(1750680360),
        type=MessageType.DOCUMENT,
        text="Segue o orçamento",
        media_ref="5069781234567890",
        mime_type="application/pdf",
        filename="Orçamento 2025/06.pdf",
        sha256="grwfwe/ZPx0wAbdfbdeFUNItPZ0RylL8gGUvdt3YFqc=",
    )


def test_sticker(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/sticker"))) == from_joao(
        provider_message_id=W + "4QjhDOUQwRTFGMkEzQjRDNUQ2RTcA",
        timestamp=ts(1750680420),
        type=MessageType.STICKER,
        media_ref="6079812345678901",
        mime_type="image/webp",
        sha256="HcwyCKrTKXHk0a00ms4HWIA76GY0Du6q4Z/iuwevw=",
    )


def test_location(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/location"))) == from_joao(
        provider_message_id=W + "5QzlEMEUxRjJBM0I0QzVENkU3RjgA",
        timestamp=ts(1750680480),
        type=MessageType.LOCATION,
        latitude=-23.561414,
        longitude=-46.655881,
        location_name="Museu de Arte de São Paulo",
        location_address="Av. Paulista, 1578 - Bela Vista, São Paulo - SP",
        location_url="https://masp.org.br/",
    )


def test_contacts(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/contacts"))) == from_joao(
        provider_message_id=W + "6RDBFMUYyQTNCNEM1RDZFN0Y4QTkA",
        timestamp=ts(1750680540),
        type=MessageType.CONTACTS,
        contacts=(
            SharedContact(
                name="Márcia Gonçalves",
                phones=("+55 11 97777-6666",),
                wa_ids=("5511977776666",),
                emails=("marcia@example.com.br",),
                organization="Padaria Pão Quente",
            ),
            SharedContact(name="Tião Souza", phones=("+55 21 3333-4444",)),
        ),
    )


def test_interactive_button_reply(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/interactive_button_reply"))) == from_joao(
        provider_message_id=W + "7RTFGMkEzQjRDNUQ2RTdGOEE5QjAA",
        timestamp=ts(1750680600),
        type=MessageType.INTERACTIVE_REPLY,
        subtype="button_reply",
        reply_id="falar_atendente",
        reply_title="Falar com atendente",
        text="Falar com atendente",
        quoted_message_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEkFCQ0RFRjAxMjM0NTY3ODkA",
    )


def test_interactive_list_reply(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/interactive_list_reply"))) == from_joao(
        provider_message_id=W + "8RjJBM0I0QzVENkU3RjhBOUIwQzEA",
        timestamp=ts(1750680660),
        type=MessageType.INTERACTIVE_REPLY,
        subtype="list_reply",
        reply_id="fila_financeiro",
        reply_title="Financeiro",
        text="Financeiro",
        quoted_message_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEkJDREVGMDEyMzQ1Njc4OUEA",
    )


def test_template_button_reply(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/button"))) == from_joao(
        provider_message_id=W + "9QTNCNEM1RDZFN0Y4QTlCMEMxRDIA",
        timestamp=ts(1750680720),
        type=MessageType.BUTTON_REPLY,
        reply_id="CONFIRMAR_ENTREGA",
        reply_title="Confirmar entrega",
        text="Confirmar entrega",
        quoted_message_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEkNERUYwMTIzNDU2Nzg5QUIA",
    )


def test_reaction(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/reaction"))) == from_joao(
        provider_message_id=W + "aQjRDNUQ2RTdGOEE5QjBDMUQyRTMA",
        timestamp=ts(1750680780),
        type=MessageType.REACTION,
        reaction_to_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjRGQjk2QzM2NjQ1QkU2RkI0OAA=",
        reaction_emoji="❤️",
    )


def test_reaction_removed_has_no_emoji(adapter, payload):
    message = only(adapter.parse_webhook(payload("cloud/reaction_removed")))
    assert message == from_joao(
        provider_message_id=W + "bQzVENkU3RjhBOUIwQzFEMkUzRjQA",
        timestamp=ts(1750680840),
        type=MessageType.REACTION,
        reaction_to_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjRGQjk2QzM2NjQ1QkU2RkI0OAA=",
        reaction_emoji=None,
    )


def test_reaction_removed_with_empty_emoji_older_payloads(adapter, payload):
    body = payload("cloud/reaction").replace(b'"emoji":"\\u2764\\ufe0f"', b'"emoji":""')
    assert b'"emoji":""' in body
    assert only(adapter.parse_webhook(body)).reaction_emoji is None


def test_unsupported(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/unsupported"))) == from_joao(
        provider_message_id=W + "cRDZFN0Y4QTlCMEMxRDJFM0Y0QTUA",
        timestamp=ts(1750680900),
        type=MessageType.UNSUPPORTED,
        subtype="poll_creation",
        error_code="131051",
        error_title="Message type unknown",
    )


def test_system_number_change(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/system"))) == from_joao(
        provider_message_id=W + "dRTdGOEE5QjBDMUQyRTNGNEE1QjYA",
        timestamp=ts(1750680960),
        type=MessageType.SYSTEM,
        subtype="user_changed_number",
        text="João Conceição changed their phone number to a number that is new to you",
        new_chat_id="5511912345678",
    )


def test_username_only_user_has_no_phone(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/username_only"))) == IncomingMessage(
        channel_id=PNID,
        provider_message_id="wamid.HBgSQlIuMTUwMjU3NjM5NDY1NTg0MxUCABIYFjNFQjBFRkFCQ0QA",
        chat_id="BR.1502576394655843",
        phone=None,
        user_id="BR.1502576394655843",
        username="@bia.santos",
        profile_name="Bia",
        timestamp=ts(1750681020),
        type=MessageType.TEXT,
        text="Oi, tudo bem?",
    )


def test_coexistence_echo_is_from_me(adapter, payload):
    assert only(adapter.parse_webhook(payload("cloud/echo"))) == IncomingMessage(
        channel_id=PNID,
        provider_message_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEkVDSE9GUk9NUEhPTkUwMDEA",
        chat_id=JOAO,
        phone=JOAO,
        from_me=True,
        timestamp=ts(1750681080),
        type=MessageType.TEXT,
        text="Oi João, respondi pelo celular 👍",
    )


# --- batching, statuses, errors, unknown fields ---------------------------------------------------


def test_batch_matches_contacts_by_wa_id_not_position(adapter, payload):
    events = adapter.parse_webhook(payload("cloud/batch"))
    summary = [(e.channel_id, e.provider_message_id, e.chat_id, e.profile_name, e.text) for e in events]
    assert summary == [
        ("106540352242922", "wamid.BATCH.1", "5511987654321", "João Conceição", "primeira"),
        ("106540352242922", "wamid.BATCH.2", "551187654321", "Zoë Ñúñez 🌵", "segunda"),
        ("106540352242922", "wamid.BATCH.3", "5511987654321", "João Conceição", "terceira"),
        ("117829304958671", "wamid.BATCH.4", "551187654321", "Zoë Ñúñez 🌵", "quarta"),
        ("117829304958671", "wamid.BATCH.5", "5521998877665", "Ana Lúcia", "quinta"),
    ]
    assert [e.timestamp for e in events] == [ts(1750682000 + i) for i in range(5)]


def test_routing_keys_of_a_body(payload):
    assert phone_number_ids(payload("cloud/batch")) == ["106540352242922", "117829304958671"]
    assert phone_number_ids(b"not json") == []
    assert phone_number_ids(b"[1, 2]") == []


def test_statuses_duplicates_kept_failed_with_error_and_unknown_statuses_skipped(adapter, payload):
    events = adapter.parse_webhook(payload("cloud/statuses"))
    sent_id = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjRGQjk2QzM2NjQ1QkU2RkI0OAA="
    common = {"channel_id": PNID, "provider_message_id": sent_id, "recipient_id": JOAO}
    assert events == [
        StatusUpdate(**common, status=DeliveryStatus.SENT, timestamp=ts(1750683000), callback_data="prosa:message:42"),
        StatusUpdate(**common, status=DeliveryStatus.DELIVERED, timestamp=ts(1750683005)),
        StatusUpdate(**common, status=DeliveryStatus.DELIVERED, timestamp=ts(1750683005)),
        StatusUpdate(**common, status=DeliveryStatus.READ, timestamp=ts(1750683060)),
        StatusUpdate(
            channel_id=PNID,
            provider_message_id="wamid.HBgNNTUxMTg3NjU0MzIxFQIAERgSNUE2QjdDOEQ5RTBGMUEyQjMA",
            status=DeliveryStatus.FAILED,
            timestamp=ts(1750683100),
            recipient_id="551187654321",
            error_code="131047",
            error_title="Re-engagement message",
            error_detail=(
                "Message failed to send because more than 24 hours have passed since the customer last "
                "replied to this number."
            ),
        ),
    ]
    # The duplicate shares its idempotency key, so applying it is a no-op.
    assert events[1].idempotency_key == events[2].idempotency_key == (sent_id, "delivered")
    failed = events[-1]
    assert failed.retryable is False
    assert "24 hours" in failed.explanation and "template" in failed.explanation


def test_account_level_errors_become_notices(adapter, payload):
    notice = only(adapter.parse_webhook(payload("cloud/errors")))
    assert notice == ProviderNotice(
        channel_id=PNID,
        code="130429",
        title="Rate limit hit",
        detail="Cloud API message throughput has been reached.",
    )
    assert "Too many messages" in notice.explanation


def test_unknown_fields_are_ignored(adapter, payload):
    events = adapter.parse_webhook(payload("cloud/unknown_field"))
    assert [(type(e), e.provider_message_id) for e in events] == [(IncomingMessage, "wamid.AFTER.UNKNOWN")]


@pytest.mark.parametrize(
    "body",
    [
        b'{"object":"instagram","entry":[{"id":"1","messaging":[]}]}',
        b'{"object":"whatsapp_business_account"}',
        b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages"}]}]}',
        b"[]",
    ],
)
def test_other_objects_and_empty_payloads_give_nothing(adapter, body):
    assert adapter.parse_webhook(body) == []


def test_not_json_raises_value_error(adapter):
    with pytest.raises(ValueError):
        adapter.parse_webhook(b"<html>oops</html>")


def test_message_without_id_is_malformed(adapter):
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "metadata": {"phone_number_id": PNID},
                                "messages": [{"from": JOAO, "timestamp": "1750680000", "type": "text"}],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()
    with pytest.raises(MalformedPayload):
        adapter.parse_webhook(body)


def test_adapter_class(cloud_conn):
    assert type(get_adapter(cloud_conn)) is CloudAdapter
