"""Cloud API calls against the fake Graph API on loopback: sends, errors, media, health."""

import pytest
from django.test import override_settings

from whatsapp.providers import get_adapter
from whatsapp.providers.base import MessageType, ProviderError
from whatsapp.tests.fakes import graph_error_body

TO = "5511987654321"


@pytest.fixture
def adapter(cloud_conn):
    return get_adapter(cloud_conn)


def sent(fake_graph):
    return [request.json() for request in fake_graph.requests_to("POST", fake_graph.messages_path)]


class TestSend:
    def test_text_returns_the_wamid_and_sends_the_documented_body(self, adapter, fake_graph):
        result = adapter.send_text("+" + TO, "Olá, João! Seu pedido saiu para entrega 🚚")

        assert result.provider_message_id.startswith("wamid.")
        assert result.recipient_id == TO
        assert result.raw["messages"][0]["id"] == result.provider_message_id
        (request,) = fake_graph.requests_to("POST", fake_graph.messages_path)
        assert request.headers["authorization"] == f"Bearer {fake_graph.access_token}"
        assert request.headers["content-type"] == "application/json"
        assert request.json() == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": TO,
            "type": "text",
            "text": {"body": "Olá, João! Seu pedido saiu para entrega 🚚", "preview_url": False},
        }

    def test_reply_quotes_the_message_and_links_enable_preview(self, adapter, fake_graph):
        adapter.send_text(TO, "Veja https://loja.example.com.br/rastreio", reply_to="wamid.QUOTED")
        (body,) = sent(fake_graph)
        assert body["context"] == {"message_id": "wamid.QUOTED"}
        assert body["text"]["preview_url"] is True

    def test_media_by_link_with_caption_and_filename(self, adapter, fake_graph):
        adapter.send_media(
            TO,
            MessageType.DOCUMENT,
            url="https://files.example.com/nota.pdf",
            caption="Sua nota fiscal",
            filename="Nota fiscal 123.pdf",
            reply_to="wamid.Q",
        )
        (body,) = sent(fake_graph)
        assert body["type"] == "document"
        assert body["document"] == {
            "link": "https://files.example.com/nota.pdf",
            "caption": "Sua nota fiscal",
            "filename": "Nota fiscal 123.pdf",
        }
        assert body["context"] == {"message_id": "wamid.Q"}

    def test_media_bytes_are_uploaded_first_then_sent_by_id(self, adapter, fake_graph):
        adapter.send_media(TO, MessageType.VOICE, content=b"OggS\x00voice", mime_type="audio/ogg", filename="v.ogg")

        (upload,) = fake_graph.requests_to("POST", f"/{fake_graph.version}/{fake_graph.phone_number_id}/media")
        assert upload.headers["content-type"].startswith("multipart/form-data")
        assert b'name="messaging_product"\r\n\r\nwhatsapp' in upload.body
        assert b"OggS\x00voice" in upload.body
        (body,) = sent(fake_graph)
        assert body["type"] == "audio"
        assert body["audio"] == {"id": "900000000000001", "voice": True}

    def test_caption_is_dropped_where_whatsapp_does_not_take_one(self, adapter, fake_graph):
        adapter.send_media(TO, MessageType.STICKER, url="https://x.example/s.webp", caption="ignored")
        assert sent(fake_graph)[0]["sticker"] == {"link": "https://x.example/s.webp"}

    def test_media_arguments_are_checked(self, adapter, fake_graph):
        with pytest.raises(ValueError):
            adapter.send_media(TO, MessageType.TEXT, url="https://x.example/a.jpg")
        with pytest.raises(ValueError):
            adapter.send_media(TO, MessageType.IMAGE)
        with pytest.raises(ValueError):
            adapter.send_media(TO, MessageType.IMAGE, url="https://x.example/a.jpg", content=b"x")
        assert fake_graph.requests == []

    def test_template(self, adapter, fake_graph):
        components = [{"type": "body", "parameters": [{"type": "text", "text": "João"}]}]
        result = adapter.send_template(TO, "confirmacao_pedido", "pt_BR", components)
        assert result.provider_message_id.startswith("wamid.")
        (body,) = sent(fake_graph)
        assert body["type"] == "template"
        assert body["template"] == {
            "name": "confirmacao_pedido",
            "language": {"code": "pt_BR"},
            "components": components,
        }

    def test_mark_read(self, adapter, fake_graph):
        assert adapter.mark_read("wamid.INBOUND") is None
        assert sent(fake_graph) == [{"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.INBOUND"}]


class TestSendErrors:
    def test_outside_the_24h_window_is_permanent_with_explanation(self, adapter, fake_graph):
        details = (
            "Message failed to send because more than 24 hours have passed since the customer last replied "
            "to this number."
        )
        fake_graph.fail(131047, "(#131047) Re-engagement message", details)

        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")

        error = caught.value
        assert error.code == "131047"
        assert error.retryable is False
        assert error.http_status == 400
        assert error.title == "(#131047) Re-engagement message"
        assert error.provider_detail == details
        assert "24 hours" in error.explanation and "template" in error.explanation
        assert str(error) == error.explanation
        assert error.needs_admin is False

    def test_throughput_limit_is_retryable(self, adapter, fake_graph):
        fake_graph.fail(130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached.")
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable) == ("130429", True)

    def test_pair_rate_limit_is_retryable(self, adapter, fake_graph):
        fake_graph.fail(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit")
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable) == ("131056", True)

    def test_server_error_without_envelope_is_retryable(self, adapter, fake_graph):
        fake_graph.respond("POST", fake_graph.messages_path, status=502, body=b"<html>Bad Gateway</html>")
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable, caught.value.http_status) == ("server_error", True, 502)

    def test_server_error_with_envelope_is_retryable(self, adapter, fake_graph):
        fake_graph.fail(131000, "Something went wrong", status=500)
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable, caught.value.http_status) == ("131000", True, 500)

    def test_transient_flag_from_graph_makes_it_retryable(self, adapter, fake_graph):
        body = graph_error_body(100, "An unexpected error has occurred. Please retry your request later.")
        body["error"]["is_transient"] = True
        fake_graph.respond("POST", fake_graph.messages_path, status=400, json=body)
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable) == ("100", True)

    @override_settings(WHATSAPP_HTTP_TIMEOUT=0.3)
    def test_timeout_is_retryable(self, adapter, fake_graph):
        fake_graph.respond("POST", fake_graph.messages_path, json={"messages": [{"id": "wamid.LATE"}]}, delay=3)
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable, caught.value.http_status) == ("timeout", True, None)

    def test_unreachable_server_is_retryable(self, cloud_conn, fake_graph):
        fake_graph.stop()
        with pytest.raises(ProviderError) as caught:
            get_adapter(cloud_conn).send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable) == ("network_error", True)

    def test_expired_token_needs_an_admin(self, cloud_conn, fake_graph):
        cloud_conn.access_token = "EAAG-expired"
        with pytest.raises(ProviderError) as caught:
            get_adapter(cloud_conn).send_text(TO, "Oi")
        error = caught.value
        assert (error.code, error.retryable, error.http_status, error.needs_admin) == ("190", False, 401, True)
        assert "administrator" in error.explanation

    def test_template_errors_are_permanent(self, adapter, fake_graph):
        fake_graph.fail(132001, "(#132001) Template name does not exist in the translation")
        with pytest.raises(ProviderError) as caught:
            adapter.send_template(TO, "nao_existe", "pt_BR")
        assert (caught.value.code, caught.value.retryable) == ("132001", False)

    def test_success_without_wamid_is_not_retried_blindly(self, adapter, fake_graph):
        fake_graph.respond("POST", fake_graph.messages_path, json={"messaging_product": "whatsapp"})
        with pytest.raises(ProviderError) as caught:
            adapter.send_text(TO, "Oi")
        assert (caught.value.code, caught.value.retryable) == ("invalid_response", False)


class TestMedia:
    def test_download_resolves_the_url_and_sends_the_bearer_to_both(self, adapter, fake_graph):
        content = b"\xff\xd8\xff\xe0 jpeg bytes \x00\x01"
        fake_graph.add_media("1029384756473829", content, "image/jpeg")

        media = adapter.download_media("1029384756473829")

        assert media == (content, "image/jpeg", "")
        assert (media.content, media.mime_type, media.filename) == (content, "image/jpeg", "")
        (info,) = fake_graph.requests_to("GET", f"/{fake_graph.version}/1029384756473829")
        (download,) = fake_graph.requests_to("GET", fake_graph.media_path)
        assert info.headers["authorization"] == download.headers["authorization"] == f"Bearer {fake_graph.access_token}"

    def test_media_bytes_require_the_bearer(self, fake_graph):
        import httpx2

        fake_graph.add_media("42", b"secret", "image/png")
        response = httpx2.get(f"{fake_graph.url}{fake_graph.media_path}?mid=42", timeout=5)
        assert response.status_code == 401

    def test_unknown_media_id_is_permanent(self, adapter, fake_graph):
        with pytest.raises(ProviderError) as caught:
            adapter.download_media("999")
        assert (caught.value.code, caught.value.retryable) == ("100", False)

    def test_expired_media_url_is_an_error(self, adapter, fake_graph):
        fake_graph.add_media("77", b"bytes", "image/jpeg")
        fake_graph.respond("GET", fake_graph.media_path, status=404, body=b"URL signature expired")
        with pytest.raises(ProviderError) as caught:
            adapter.download_media("77")
        assert (caught.value.code, caught.value.http_status, caught.value.retryable) == ("bad_request", 404, False)

    @override_settings(WHATSAPP_MEDIA_MAX_BYTES=10)
    def test_too_large_media_is_refused(self, adapter, fake_graph):
        fake_graph.add_media("88", b"x" * 11, "video/mp4")
        with pytest.raises(ProviderError) as caught:
            adapter.download_media("88")
        assert (caught.value.code, caught.value.retryable) == ("media_too_large", False)


def test_check_reads_the_phone_number(adapter, fake_graph):
    result = adapter.check()
    assert result["status"] == "connected"
    assert result["verified_name"] == "Loja Prosa Centro"
    assert result["quality_rating"] == "GREEN"
    (request,) = fake_graph.requests_to("GET", f"/{fake_graph.version}/{fake_graph.phone_number_id}")
    assert request.query == {"fields": ["display_phone_number,verified_name,quality_rating,name_status"]}


def test_evolution_only_operations_are_not_supported(adapter, fake_graph):
    for call in (adapter.fetch_qrcode, adapter.logout, adapter.create_instance):
        with pytest.raises(ProviderError) as caught:
            call()
        assert (caught.value.code, caught.value.retryable) == ("not_supported", False)
    assert fake_graph.requests == []


@override_settings(WHATSAPP_GRAPH_BASE_URL="http://127.0.0.1:9", WHATSAPP_GRAPH_API_VERSION="v99.0")
def test_empty_base_url_and_version_fall_back_to_settings(cloud_conn):
    cloud_conn.api_base_url = ""
    cloud_conn.graph_api_version = ""
    assert get_adapter(cloud_conn)._url("123", "messages") == "http://127.0.0.1:9/v99.0/123/messages"
