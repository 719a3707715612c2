"""Meta WhatsApp Cloud API (Graph API) adapter.

Webhooks: GET verification with `hub.*` query parameters (`verify_subscription`), POST bodies signed
with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw bytes, keyed with the app secret>`.
Sends: `POST {base}/{version}/{phone_number_id}/messages` with the access token as Bearer.
Media: `GET /{media-id}` → a short-lived URL, fetched with the same Bearer header.
See /work/shared/reference/whatsapp_formats.md §1 for every field used here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any

import httpx2
from django.conf import settings

from whatsapp.choices import ConnectionStatus, DeliveryStatus, MessageType, Provider
from whatsapp.providers import http
from whatsapp.providers.base import (
    DownloadedMedia,
    Event,
    IncomingMessage,
    MalformedPayload,
    MessageDeleted,
    MessageEdited,
    ProviderAdapter,
    ProviderNotice,
    SendResult,
    StatusUpdate,
    constant_time_equals,
    get_header,
    utc_from_unix,
)
from whatsapp.providers.cloud_content import content_fields
from whatsapp.providers.errors import ProviderError

logger = logging.getLogger("whatsapp.providers.cloud")

SIGNATURE_HEADER = "X-Hub-Signature-256"

_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "played": DeliveryStatus.PLAYED,
    "failed": DeliveryStatus.FAILED,
}
# Which media may carry a caption / a filename when sent.
_CAPTIONED = {MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT}


def signature_for(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header_value: str | None, app_secret: str) -> bool:
    """HMAC over the exact bytes received (never re-serialized JSON), compared in constant time."""
    if not header_value or not app_secret:
        return False
    return hmac.compare_digest(header_value.encode(), signature_for(body, app_secret).encode())


def phone_number_ids(body: bytes) -> list[str]:
    """The `metadata.phone_number_id`s a body is addressed to — the routing key when one Meta app's
    callback URL serves several connections. Not authenticated: verify with that connection next."""
    try:
        payload = json.loads(body)
    except ValueError:
        return []
    found: list[str] = []
    for entry in _list(payload.get("entry")) if isinstance(payload, dict) else []:
        for change in _list(entry.get("changes")):
            value = change.get("value") if isinstance(change, dict) else None
            number_id = ((value or {}).get("metadata") or {}).get("phone_number_id")
            if number_id and number_id not in found:
                found.append(str(number_id))
    return found


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


class CloudAdapter(ProviderAdapter):
    provider = Provider.CLOUD

    # --- URLs and auth ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return (self.connection.api_base_url or settings.WHATSAPP_GRAPH_BASE_URL).rstrip("/")

    def _url(self, *parts: str) -> str:
        version = self.connection.graph_api_version or settings.WHATSAPP_GRAPH_API_VERSION
        return "/".join([self.base_url, version, *parts])

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.connection.access_token}"}

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        return http.call(
            method,
            url,
            provider=self.provider,
            parse_error=graph_error,
            client=self._client,
            headers=self._auth(),
            **kwargs,
        )

    # --- webhooks -----------------------------------------------------------------

    def verify_subscription(self, query: Mapping[str, str]) -> str | None:
        """Meta's GET handshake: the `hub.challenge` to echo back (HTTP 200, text/plain) if the mode is
        `subscribe` and the verify token is this connection's; None → answer 403."""
        if query.get("hub.mode") != "subscribe":
            return None
        if not constant_time_equals(query.get("hub.verify_token"), self.connection.verify_token):
            return None
        return query.get("hub.challenge") or None

    def verify_webhook(
        self, *, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], secret: str | None = None
    ) -> bool:
        # A URL that carries the connection's secret must carry the right one; the HMAC is required anyway.
        if secret is not None and not constant_time_equals(secret, self.connection.webhook_secret):
            return False
        return verify_signature(body, get_header(headers, SIGNATURE_HEADER), self.connection.app_secret)

    def parse_webhook(self, body: bytes) -> list[Event]:
        payload = json.loads(body)
        if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
            return []
        events: list[Event] = []
        for entry in _list(payload.get("entry")):
            for change in _list(entry.get("changes") if isinstance(entry, dict) else None):
                if not isinstance(change, dict):
                    continue
                field_name, value = change.get("field"), change.get("value")
                if not isinstance(value, dict):
                    continue
                if field_name == "messages":
                    events.extend(self._parse_messages_value(value))
                elif field_name == "smb_message_echoes":
                    events.extend(self._parse_echoes_value(value))
                else:
                    logger.debug("cloud webhook field ignored", extra={"field": field_name})
        return events

    def _parse_messages_value(self, value: dict) -> list[Event]:
        channel_id = str((value.get("metadata") or {}).get("phone_number_id", ""))
        contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
        by_wa_id = {c["wa_id"]: c for c in contacts if c.get("wa_id")}
        by_user_id = {c["user_id"]: c for c in contacts if c.get("user_id")}
        events: list[Event] = []
        for message in _list(value.get("messages")):
            if not isinstance(message, dict):
                raise MalformedPayload("cloud message is not an object")
            contact = by_wa_id.get(message.get("from")) or by_user_id.get(message.get("from_user_id")) or {}
            events.append(self._parse_message(message, channel_id=channel_id, contact=contact))
        for status in _list(value.get("statuses")):
            if not isinstance(status, dict):
                raise MalformedPayload("cloud status is not an object")
            update = self._parse_status(status, channel_id=channel_id)
            if update is not None:
                events.append(update)
        for error in (e for e in _list(value.get("errors")) if isinstance(e, dict)):
            events.append(
                ProviderNotice(
                    channel_id=channel_id,
                    code=str(error.get("code", "")),
                    title=error.get("title") or error.get("message", ""),
                    detail=(error.get("error_data") or {}).get("details", ""),
                    raw=error,
                )
            )
        return events

    def _parse_echoes_value(self, value: dict) -> list[Event]:
        """Coexistence numbers: messages the business sent from the WhatsApp Business app."""
        channel_id = str((value.get("metadata") or {}).get("phone_number_id", ""))
        return [
            self._parse_message(echo, channel_id=channel_id, contact={}, from_me=True)
            for echo in _list(value.get("message_echoes"))
            if isinstance(echo, dict)
        ]

    def _parse_message(
        self, message: dict, *, channel_id: str, contact: dict, from_me: bool = False
    ) -> IncomingMessage | MessageEdited | MessageDeleted:
        try:
            message_id = message["id"]
            timestamp = utc_from_unix(message["timestamp"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedPayload(f"cloud message without id/timestamp: {exc!r}") from None
        kind = message.get("type", "")
        if kind in ("edit", "revoke"):
            change = _parse_change(message, kind, channel_id=channel_id, timestamp=timestamp, from_me=from_me)
            if change is not None:
                return change
        # The customer is the sender, or for the business's own echoes the recipient.
        wa_id = str(message.get("to" if from_me else "from") or "")
        user_id = str(message.get("to_user_id" if from_me else "from_user_id") or contact.get("user_id") or "")
        profile = contact.get("profile") or {}
        context = message.get("context") or {}
        fields: dict[str, Any] = {
            "channel_id": channel_id,
            "provider_message_id": message_id,
            "chat_id": wa_id or user_id,
            "phone": wa_id if wa_id.isdigit() else None,
            "timestamp": timestamp,
            "profile_name": profile.get("name", ""),
            "user_id": user_id,
            "username": profile.get("username") or contact.get("username") or "",
            "from_me": from_me,
            "forwarded": bool(context.get("forwarded") or context.get("frequently_forwarded")),
            "quoted_message_id": context.get("id", ""),
            "referral": message.get("referral"),
            "raw": message,
        }
        errors = _list(message.get("errors"))
        if errors:
            fields["error_code"] = str(errors[0].get("code", ""))
            fields["error_title"] = errors[0].get("title") or errors[0].get("message", "")
        content = message.get(kind) if isinstance(message.get(kind), dict) else {}
        fields.update(content_fields(kind, content, message))
        return IncomingMessage(**fields)

    def _parse_status(self, status: dict, *, channel_id: str) -> StatusUpdate | None:
        value = _STATUSES.get(status.get("status", ""))
        if value is None:  # deleted / warning / future values
            logger.debug("cloud status ignored", extra={"status": status.get("status")})
            return None
        try:
            message_id = status["id"]
        except (KeyError, TypeError):
            raise MalformedPayload("cloud status without id") from None
        errors = _list(status.get("errors"))
        error = errors[0] if errors else {}
        return StatusUpdate(
            channel_id=channel_id,
            provider_message_id=message_id,
            status=value,
            timestamp=utc_from_unix(status["timestamp"]) if status.get("timestamp") else None,
            recipient_id=str(status.get("recipient_id") or status.get("recipient_user_id") or ""),
            error_code=str(error.get("code", "")) if error else "",
            error_title=error.get("title", "") if error else "",
            error_detail=((error.get("error_data") or {}).get("details") or error.get("message", "")) if error else "",
            callback_data=status.get("biz_opaque_callback_data", ""),
            raw=status,
        )

    # --- sending --------------------------------------------------------------------

    def _send(self, to: str, payload: dict[str, Any], reply_to: str | None = None) -> SendResult:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.removeprefix("+"),
            **payload,
        }
        if reply_to:
            body["context"] = {"message_id": reply_to}
        data = http.json_or_empty(self._call("POST", self._url(self.connection.phone_number_id, "messages"), json=body))
        messages = data.get("messages") if isinstance(data, dict) else None
        if not messages or not isinstance(messages[0], dict) or not messages[0].get("id"):
            # Accepted (2xx) but no wamid: it may have been sent, so never retry blindly.
            raise ProviderError(code="invalid_response", retryable=False, http_status=200)
        contacts = data.get("contacts") or [{}]
        return SendResult(messages[0]["id"], data, recipient_id=(contacts[0] or {}).get("wa_id", ""))

    def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SendResult:
        preview = "http://" in text or "https://" in text
        return self._send(to, {"type": "text", "text": {"body": text, "preview_url": preview}}, reply_to)

    def send_interactive(self, to: str, interactive: Mapping[str, Any]) -> SendResult:
        """Reply buttons (up to 3) or a list (up to 10 rows): `interactive` is the Graph API's object."""
        return self._send(to, {"type": "interactive", "interactive": dict(interactive)})

    def send_media(
        self,
        to: str,
        kind: MessageType,
        *,
        url: str | None = None,
        content: bytes | None = None,
        mime_type: str = "",
        caption: str = "",
        filename: str = "",
        reply_to: str | None = None,
    ) -> SendResult:
        kind = self._check_media_kind(kind, url, content)
        wire_type = "audio" if kind == MessageType.VOICE else str(kind)
        media: dict[str, Any] = (
            {"link": url} if url is not None else {"id": self.upload_media(content, mime_type, filename)}
        )
        if caption and kind in _CAPTIONED:
            media["caption"] = caption
        if filename and kind == MessageType.DOCUMENT:
            media["filename"] = filename
        if kind == MessageType.VOICE:
            media["voice"] = True
        return self._send(to, {"type": wire_type, wire_type: media}, reply_to)

    def upload_media(self, content: bytes, mime_type: str = "", filename: str = "") -> str:
        """`POST /{phone_number_id}/media` (multipart) → a media id usable for 30 days."""
        mime_type = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        response = self._call(
            "POST",
            self._url(self.connection.phone_number_id, "media"),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename or "file", content, mime_type)},
        )
        media_id = http.json_or_empty(response).get("id")
        if not media_id:
            raise ProviderError(code="invalid_response", retryable=False, http_status=response.status_code)
        return str(media_id)

    def send_template(
        self, to: str, name: str, language: str, components: Sequence[Mapping[str, Any]] = ()
    ) -> SendResult:
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if components:
            template["components"] = [dict(component) for component in components]
        return self._send(to, {"type": "template", "template": template})

    def list_templates(self) -> list[dict[str, Any]]:
        """`GET /{waba_id}/message_templates`, following `paging.next` until the last page."""
        if not self.connection.waba_id:
            raise ProviderError(code="waba_id_missing", retryable=False)
        url: str | None = self._url(self.connection.waba_id, "message_templates")
        params: dict[str, Any] | None = {
            "fields": "id,name,language,category,status,components,rejected_reason,parameter_format",
            "limit": 100,
        }
        templates: list[dict[str, Any]] = []
        for _page in range(100):  # 10,000 templates: far above Meta's per-account limit
            data = http.json_or_empty(self._call("GET", url, params=params))
            templates.extend(
                t for t in _list(data.get("data") if isinstance(data, dict) else None) if isinstance(t, dict)
            )
            url = ((data.get("paging") or {}).get("next") or None) if isinstance(data, dict) else None
            params = None  # the next URL carries every parameter
            if not url:
                break
        return templates

    def create_template(
        self, *, name: str, language: str, category: str, components: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        if not self.connection.waba_id:
            raise ProviderError(code="waba_id_missing", retryable=False)
        body = {"name": name, "language": language, "category": category, "components": [dict(c) for c in components]}
        data = http.json_or_empty(
            self._call("POST", self._url(self.connection.waba_id, "message_templates"), json=body)
        )
        if not isinstance(data, dict) or not data.get("id"):
            raise ProviderError(code="invalid_response", retryable=False, http_status=200)
        return data

    def mark_read(self, message_id: str, *, chat_id: str = "") -> None:
        self._call(
            "POST",
            self._url(self.connection.phone_number_id, "messages"),
            json={"messaging_product": "whatsapp", "status": "read", "message_id": message_id},
        )

    # --- media and health ---------------------------------------------------------

    def download_media(self, media_ref: str) -> DownloadedMedia:
        info = http.json_or_empty(self._call("GET", self._url(media_ref)))
        url = info.get("url") if isinstance(info, dict) else None
        if not url:
            raise ProviderError(code="invalid_response", retryable=False)
        content, headers = http.download(
            url,
            provider=self.provider,
            parse_error=graph_error,
            max_bytes=settings.WHATSAPP_MEDIA_MAX_BYTES,
            client=self._client,
            headers=self._auth(),
            follow_redirects=True,
        )
        mime_type = info.get("mime_type") or headers.get("content-type", "")
        return DownloadedMedia(content, mime_type, _filename_from(headers.get("content-disposition", "")))

    def check(self) -> dict[str, Any]:
        data = http.json_or_empty(
            self._call(
                "GET",
                self._url(self.connection.phone_number_id),
                params={"fields": "display_phone_number,verified_name,quality_rating,name_status"},
            )
        )
        return {
            "status": ConnectionStatus.CONNECTED,
            "display_phone_number": data.get("display_phone_number", ""),
            "verified_name": data.get("verified_name", ""),
            "quality_rating": data.get("quality_rating", ""),
            "raw": data,
        }


def _filename_from(content_disposition: str) -> str:
    for part in content_disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            return value.strip('"')
    return ""


def _parse_change(
    message: dict, kind: str, *, channel_id: str, timestamp, from_me: bool
) -> MessageEdited | MessageDeleted | None:
    """Coexistence numbers (a WhatsApp Business app on the Cloud API): `type: edit` carries
    `edit.original_message_id` and the new `edit.message` (text body or media caption); `type: revoke`
    carries `revoke.original_message_id`. Without a target it stays an unsupported message."""
    change = message.get(kind) if isinstance(message.get(kind), dict) else {}
    target = str(change.get("original_message_id") or "")
    if not target:
        return None
    if kind == "revoke":
        return MessageDeleted(
            channel_id=channel_id, provider_message_id=target, timestamp=timestamp, from_me=from_me, raw=message
        )
    new = change.get("message") if isinstance(change.get("message"), dict) else {}
    content = new.get(new.get("type", "")) if isinstance(new.get(new.get("type", "")), dict) else {}
    return MessageEdited(
        channel_id=channel_id,
        provider_message_id=target,
        new_text=str(content.get("body") or content.get("caption") or ""),
        timestamp=timestamp,
        from_me=from_me,
        raw=message,
    )


def graph_error(response: httpx2.Response) -> ProviderError:
    """A Graph error envelope `{"error": {"code", "message", "error_data": {"details"}, …}}` →
    ProviderError; bodies that are not envelopes (proxies, outages) by HTTP status."""
    status = response.status_code
    payload = http.json_or_empty(response)
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict) or "code" not in error:
        if status >= 500:
            code = "server_error"
        elif status == 429:
            code = "rate_limited"
        elif status in (401, 403):
            code = "unauthorized"
        else:
            code = "bad_request"
        return ProviderError(code=code, title=f"HTTP {status}", http_status=status)
    return ProviderError(
        code=str(error["code"]),
        title=str(error.get("message", "")),
        provider_detail=str((error.get("error_data") or {}).get("details", "")),
        http_status=status,
        retryable=True if error.get("is_transient") else None,
    )
