"""Evolution API calls against the fake Evolution server on loopback."""

import base64

import pytest
from django.test import override_settings

from whatsapp.choices import ConnectionStatus
from whatsapp.providers import get_adapter
from whatsapp.providers.base import MessageType, ProviderError
from whatsapp.tests.conftest import WEBHOOK_SECRET
from whatsapp.tests.fakes import PNG_1X1_BASE64

TO = "5511987654321"


@pytest.fixture
def adapter(evolution_conn):
    return get_adapter(evolution_conn)


class TestSend:
    def test_text_returns_the_key_id(self, adapter, fake_evolution):
        result = adapter.send_text(
            "+" + TO, "Olá, João! Seu pedido saiu para entrega 🚚", reply_to="3A5F0C8E9D7B6A5F4E3D"
        )

        assert result.provider_message_id.startswith("3EB0")
        assert result.recipient_id == TO
        assert result.raw["status"] == "PENDING"
        (request,) = fake_evolution.requests_to("POST", "/message/sendText/loja-centro")
        assert request.headers["apikey"] == fake_evolution.api_key
        assert request.json() == {
            "number": TO,
            "text": "Olá, João! Seu pedido saiu para entrega 🚚",
            "quoted": {"key": {"id": "3A5F0C8E9D7B6A5F4E3D"}},
        }

    def test_text_to_a_lid_chat_keeps_the_jid(self, adapter, fake_evolution):
        adapter.send_text("148309127549012@lid", "Oi")
        (request,) = fake_evolution.requests_to("POST", "/message/sendText/loja-centro")
        assert request.json()["number"] == "148309127549012@lid"

    def test_media_by_url(self, adapter, fake_evolution):
        adapter.send_media(
            TO,
            MessageType.DOCUMENT,
            url="https://files.example.com/nota.pdf",
            mime_type="application/pdf",
            caption="Sua nota fiscal",
            filename="Nota fiscal 123.pdf",
        )
        (request,) = fake_evolution.requests_to("POST", "/message/sendMedia/loja-centro")
        assert request.json() == {
            "number": TO,
            "mediatype": "document",
            "media": "https://files.example.com/nota.pdf",
            "mimetype": "application/pdf",
            "caption": "Sua nota fiscal",
            "fileName": "Nota fiscal 123.pdf",
        }

    def test_media_bytes_go_as_base64(self, adapter, fake_evolution):
        adapter.send_media(TO, MessageType.IMAGE, content=b"\x89PNG\r\n", mime_type="image/png")
        (request,) = fake_evolution.requests_to("POST", "/message/sendMedia/loja-centro")
        assert request.json()["media"] == base64.b64encode(b"\x89PNG\r\n").decode()

    def test_voice_note_and_sticker_use_their_own_routes(self, adapter, fake_evolution):
        adapter.send_media(TO, MessageType.VOICE, url="https://files.example.com/audio.ogg")
        adapter.send_media(TO, MessageType.STICKER, url="https://files.example.com/s.webp")
        (voice,) = fake_evolution.requests_to("POST", "/message/sendWhatsAppAudio/loja-centro")
        (sticker,) = fake_evolution.requests_to("POST", "/message/sendSticker/loja-centro")
        assert voice.json() == {"number": TO, "audio": "https://files.example.com/audio.ogg"}
        assert sticker.json() == {"number": TO, "sticker": "https://files.example.com/s.webp"}

    def test_templates_are_not_supported(self, adapter, fake_evolution):
        with pytest.raises(ProviderError) as caught:
            adapter.send_template(TO, "confirmacao_pedido", "pt_BR")
        assert (caught.value.code, caught.value.retryable) == ("not_supported", False)
        assert fake_evolution.requests == []

    def test_mark_read_needs_the_chat(self, adapter, fake_evolution):
        adapter.mark_read("3A6B1D9F0E8C7B6A5F4E", chat_id=TO)
        (request,) = fake_evolution.requests_to("POST", "/chat/markMessageAsRead/loja-centro")
        assert request.json() == {
            "readMessages": [
                {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": False, "id": "3A6B1D9F0E8C7B6A5F4E"}
            ]
        }
        with pytest.raises(ValueError):
            adapter.mark_read("3A6B1D9F0E8C7B6A5F4E")


class TestErrors:
    def test_number_not_on_whatsapp_is_permanent(self, adapter, fake_evolution):
        fake_evolution.not_on_whatsapp.add(TO)
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        error = caught.value
        assert (error.code, error.retryable, error.http_status) == ("not_on_whatsapp", False, 400)
        assert '"exists": false' in error.provider_detail
        assert error.explanation == "This number does not use WhatsApp."

    def test_wrong_api_key_needs_an_admin(self, evolution_conn, fake_evolution):
        evolution_conn.api_key = "wrong"
        with pytest.raises(ProviderError) as caught:
            get_adapter(evolution_conn).send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable, caught.value.needs_admin) == ("unauthorized", False, True)

    def test_unknown_instance(self, evolution_conn, fake_evolution):
        evolution_conn.instance_name = "sumiu"
        with pytest.raises(ProviderError) as caught:
            get_adapter(evolution_conn).send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable, caught.value.http_status) == (
            "instance_not_found",
            False,
            404,
        )
        assert caught.value.provider_detail == 'The "sumiu" instance does not exist'

    def test_server_error_is_retryable(self, adapter, fake_evolution):
        fake_evolution.respond(
            "POST",
            "/message/sendText/loja-centro",
            status=500,
            json={"status": 500, "error": "Internal Server Error", "response": {"message": ["Connection Closed"]}},
        )
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable, caught.value.provider_detail) == (
            "server_error",
            True,
            "Connection Closed",
        )

    @override_settings(WHATSAPP_HTTP_TIMEOUT=0.3)
    def test_timeout_is_retryable(self, adapter, fake_evolution):
        fake_evolution.respond("POST", "/message/sendText/loja-centro", status=201, json={}, delay=3)
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable) == ("timeout", True)


class TestMedia:
    def test_download_decodes_base64(self, adapter, fake_evolution):
        content = b"OggS\x00\x02 opus voice note"
        fake_evolution.add_media("3A9E4A2C3B1F0E9D8C7B", content, "audio/ogg; codecs=opus", "audio.ogg")

        media = adapter.download_media("3A9E4A2C3B1F0E9D8C7B")

        assert media == (content, "audio/ogg; codecs=opus", "audio.ogg")
        (request,) = fake_evolution.requests_to("POST", "/chat/getBase64FromMediaMessage/loja-centro")
        assert request.headers["apikey"] == fake_evolution.api_key
        assert request.json() == {"message": {"key": {"id": "3A9E4A2C3B1F0E9D8C7B"}}, "convertToMp4": False}

    def test_unknown_message(self, adapter, fake_evolution):
        with pytest.raises(ProviderError) as caught:
            adapter.download_media("NOPE")
        assert (caught.value.code, caught.value.retryable) == ("bad_request", False)

    @override_settings(WHATSAPP_MEDIA_MAX_BYTES=10)
    def test_too_large(self, adapter, fake_evolution):
        fake_evolution.add_media("BIG", b"x" * 11, "video/mp4")
        with pytest.raises(ProviderError) as caught:
            adapter.download_media("BIG")
        assert caught.value.code == "media_too_large"


class TestInstance:
    def test_fetch_qrcode_returns_a_png_data_url(self, adapter, fake_evolution):
        fake_evolution.instances["loja-centro"] = "close"
        data_url = adapter.fetch_qrcode()
        assert data_url == "data:image/png;base64," + PNG_1X1_BASE64
        assert base64.b64decode(data_url.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")

    def test_fetch_qrcode_when_already_connected(self, adapter, fake_evolution):
        assert adapter.fetch_qrcode() is None

    def test_create_instance_with_webhook(self, evolution_conn, fake_evolution):
        evolution_conn.instance_name = "loja-nova"
        result = get_adapter(evolution_conn).create_instance(webhook_url="https://prosa.example.com/webhooks/x/")

        assert result["status"] == ConnectionStatus.CONNECTING
        assert result["token"] == "INSTANCE-TOKEN-LOJA-NOVA"
        assert result["qrcode"] == "data:image/png;base64," + PNG_1X1_BASE64
        (request,) = fake_evolution.requests_to("POST", "/instance/create")
        body = request.json()
        assert (body["instanceName"], body["integration"], body["qrcode"]) == ("loja-nova", "WHATSAPP-BAILEYS", True)
        assert body["webhook"]["url"] == "https://prosa.example.com/webhooks/x/"
        assert body["webhook"]["headers"] == {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
        assert body["webhook"]["base64"] is False
        assert "MESSAGES_UPSERT" in body["webhook"]["events"]

    def test_create_existing_instance_fails(self, adapter, fake_evolution):
        with pytest.raises(ProviderError) as caught:
            adapter.create_instance()
        assert (caught.value.code, caught.value.retryable, caught.value.needs_admin) == (
            "instance_exists",
            False,
            False,
        )

    def test_set_webhook(self, adapter, fake_evolution):
        adapter.set_webhook("https://prosa.example.com/webhooks/y/")
        assert fake_evolution.webhooks["loja-centro"]["headers"] == {"Authorization": f"Bearer {WEBHOOK_SECRET}"}

    def test_check_and_logout(self, adapter, fake_evolution):
        assert adapter.check()["status"] == ConnectionStatus.CONNECTED
        adapter.logout()
        assert fake_evolution.instances["loja-centro"] == "close"
        assert len(fake_evolution.requests_to("DELETE", "/instance/logout/loja-centro")) == 1
        assert adapter.check()["status"] == ConnectionStatus.DISCONNECTED

    def test_instance_names_are_quoted_in_paths(self, evolution_conn, fake_evolution):
        evolution_conn.instance_name = "loja centro/2"
        assert get_adapter(evolution_conn)._url("message/sendText").endswith("/message/sendText/loja%20centro%2F2")
