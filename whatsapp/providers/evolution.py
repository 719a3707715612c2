"""Evolution API v2 adapter (a Baileys gateway: a WhatsApp session opened by scanning a QR code).

Webhooks are unsigned: each connection's webhook is configured to send
`Authorization: Bearer <webhook_secret>` (`set_webhook` / `create_instance`) and the route may also
carry the secret in its path; either is compared in constant time. REST calls send the `apikey`
header and answer 201 on POST. See /work/shared/reference/whatsapp_formats.md §2.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx2
from django.conf import settings

from whatsapp.choices import ConnectionStatus, DeliveryStatus, MessageType, Provider
from whatsapp.phone import digits_from_jid
from whatsapp.providers import http
from whatsapp.providers.base import (
    ConnectionUpdate,
    DownloadedMedia,
    Event,
    IncomingMessage,
    MalformedPayload,
    MessageDeleted,
    MessageEdited,
    ProviderAdapter,
    SendResult,
    StatusUpdate,
    as_data_url,
    constant_time_equals,
    get_header,
    utc_from_unix,
)
from whatsapp.providers.errors import ProviderError
from whatsapp.providers.evolution_content import content_fields, find_content_key, unwrap

logger = logging.getLogger("whatsapp.providers.evolution")

USER_SERVER = "@s.whatsapp.net"
WEBHOOK_EVENTS = [
    "MESSAGES_UPSERT",
    "MESSAGES_UPDATE",
    "MESSAGES_DELETE",
    "MESSAGES_EDITED",
    "SEND_MESSAGE",
    "CONNECTION_UPDATE",
    "QRCODE_UPDATED",
]

# Baileys ack numbers and their names, as messages.update reports them.
_ACKS = {
    "0": DeliveryStatus.FAILED,
    "ERROR": DeliveryStatus.FAILED,
    "1": DeliveryStatus.PENDING,
    "PENDING": DeliveryStatus.PENDING,
    "2": DeliveryStatus.SENT,
    "SERVER_ACK": DeliveryStatus.SENT,
    "3": DeliveryStatus.DELIVERED,
    "DELIVERY_ACK": DeliveryStatus.DELIVERED,
    "4": DeliveryStatus.READ,
    "READ": DeliveryStatus.READ,
    "5": DeliveryStatus.PLAYED,
    "PLAYED": DeliveryStatus.PLAYED,
}
_STATES = {
    "open": ConnectionStatus.CONNECTED,
    "connecting": ConnectionStatus.CONNECTING,
    "close": ConnectionStatus.DISCONNECTED,
    "refused": ConnectionStatus.DISCONNECTED,
}
_EVOLUTION_MEDIATYPE = {
    MessageType.IMAGE: "image",
    MessageType.VIDEO: "video",
    MessageType.AUDIO: "audio",
    MessageType.DOCUMENT: "document",
}


def _jid_phone(jid: str | None) -> str | None:
    """Digits of a user JID (`5511…@s.whatsapp.net`); None for LIDs, groups and anything else."""
    if jid and jid.endswith(USER_SERVER):
        digits = digits_from_jid(jid)
        return digits if digits.isdigit() else None
    return None


def _timestamp(value: Any):
    if isinstance(value, dict):  # protobuf Long from older versions: {"low": …, "high": …}
        value = value.get("low", 0) + (value.get("high", 0) << 32)
    return utc_from_unix(value)


def _timestamp_ms(value: Any):
    """`protocolMessage.timestampMs` (string, number or Long) → datetime; None when absent or garbage."""
    if isinstance(value, dict):
        value = value.get("low", 0) + (value.get("high", 0) << 32)
    try:
        return utc_from_unix(int(value) // 1000) if value not in (None, "", 0, "0") else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# protocolMessage.type, by Baileys enum name or number (JSON carries either, depending on version).
_REVOKE = frozenset({0, "0", "REVOKE"})
_MESSAGE_EDIT = frozenset({14, "14", "MESSAGE_EDIT"})


def _edited_text(message: dict) -> str:
    """The text of an edited message's new version: its body, or its caption for media."""
    message = unwrap(message)
    key = find_content_key(message, None)
    content = message.get(key) if key else None
    if key == "conversation":
        return str(content or "")
    if isinstance(content, dict):
        return str(content.get("text") or content.get("caption") or "")
    return ""


class EvolutionAdapter(ProviderAdapter):
    provider = Provider.EVOLUTION

    @property
    def base_url(self) -> str:
        return self.connection.api_base_url.rstrip("/")

    @property
    def instance(self) -> str:
        return self.connection.instance_name

    def _url(self, route: str) -> str:
        return f"{self.base_url}/{route}/{quote(self.instance, safe='')}"

    def _call(self, method: str, route: str, **kwargs: Any) -> httpx2.Response:
        return http.call(
            method,
            self._url(route),
            provider=self.provider,
            parse_error=evolution_error,
            client=self._client,
            headers={"apikey": self.connection.api_key},
            **kwargs,
        )

    # --- webhooks -----------------------------------------------------------------

    def verify_webhook(
        self, *, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], secret: str | None = None
    ) -> bool:
        presented = []
        if secret is not None:
            presented.append(secret)
        authorization = get_header(headers, "Authorization") or ""
        if authorization[:7].lower() == "bearer ":
            presented.append(authorization[7:].strip())
        expected = self.connection.webhook_secret
        # Evaluate every credential (no short-circuit) so timing does not say which one was tried.
        matches = [constant_time_equals(value, expected) for value in presented]
        return any(matches)

    def parse_webhook(self, body: bytes) -> list[Event]:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            return []
        event = str(payload.get("event", "")).lower().replace("_", ".")
        instance = str(payload.get("instance") or self.instance)
        data = payload.get("data")
        items = data if isinstance(data, list) else [data]
        items = [item for item in items if isinstance(item, dict)]
        events: list[Event] = []
        if event in ("messages.upsert", "send.message"):
            events.extend(m for item in items if (m := self._parse_message(item, instance)) is not None)
        elif event == "messages.update":
            events.extend(s for item in items if (s := self._parse_update(item, instance)) is not None)
        elif event == "messages.edited":
            events.extend(e for item in items if (e := self._parse_edited(item, instance)) is not None)
        elif event == "messages.delete":
            events.extend(d for item in items if (d := self._parse_delete(item, instance)) is not None)
        elif event == "connection.update":
            events.extend(self._parse_connection(item, instance) for item in items)
        elif event == "qrcode.updated":
            events.extend(self._parse_qrcode(item, instance) for item in items)
        else:
            logger.debug("evolution webhook event ignored", extra={"event": event})
        return events

    def _parse_message(self, data: dict, instance: str) -> Event | None:
        key = data.get("key") or {}
        remote_jid = str(key.get("remoteJid") or "")
        if not remote_jid or remote_jid.endswith(("@broadcast", "@newsletter")):
            return None  # stories, broadcast lists, channels: not conversations
        try:
            message_id = key["id"]
            timestamp = _timestamp(data["messageTimestamp"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedPayload(f"evolution message without key.id/messageTimestamp: {exc!r}") from None
        from_me = bool(key.get("fromMe"))
        is_group = remote_jid.endswith("@g.us")
        if is_group:
            participant = key.get("participant") or data.get("participant") or ""
            phone_jid = key.get("participantAlt") if participant.endswith("@lid") else participant
        elif remote_jid.endswith("@lid"):
            # Privacy ids carry no phone; Baileys 7 puts the phone JID in remoteJidAlt (older: senderPn).
            phone_jid = key.get("remoteJidAlt") or key.get("senderPn") or ""
        else:
            phone_jid = remote_jid
        message = unwrap(data.get("message") or {})
        content_key = find_content_key(message, data.get("messageType"))
        content = message.get(content_key) if content_key else None
        content = content if isinstance(content, dict) else {}
        if content_key == "protocolMessage":
            # An edit or a revoke delivered as a message of its own: it changes its target instead.
            change = self._parse_protocol(content, instance, from_me=from_me, timestamp=timestamp, raw=data)
            if change is not None:
                return change
        context = data.get("contextInfo") or content.get("contextInfo") or {}
        fields: dict[str, Any] = {
            "channel_id": instance,
            "provider_message_id": message_id,
            "chat_id": remote_jid,
            "phone": _jid_phone(phone_jid),
            "timestamp": timestamp,
            # For fromMe messages pushName is the business's own name, never the customer's.
            "profile_name": "" if from_me else str(data.get("pushName") or ""),
            "from_me": from_me,
            "is_group": is_group,
            "forwarded": bool(context.get("isForwarded")),
            "quoted_message_id": context.get("stanzaId") or "",
            "raw": data,
        }
        fields.update(content_fields(content_key, content, message, message_id))
        return IncomingMessage(**fields)

    def _parse_protocol(
        self, protocol: dict, instance: str, *, from_me: bool, timestamp=None, raw: dict
    ) -> MessageEdited | MessageDeleted | None:
        """A Baileys protocolMessage `{key, type, editedMessage?, timestampMs?}`: a revoke or an edit of
        `key.id`; None for the other kinds (ephemeral settings, history sync, …)."""
        target = (protocol.get("key") or {}).get("id") if isinstance(protocol.get("key"), dict) else None
        kind = protocol.get("type")
        if not target:
            return None
        when = _timestamp_ms(protocol.get("timestampMs")) or timestamp
        if kind in _REVOKE:
            return MessageDeleted(
                channel_id=instance, provider_message_id=str(target), timestamp=when, from_me=from_me, raw=raw
            )
        edited = protocol.get("editedMessage")
        if (kind in _MESSAGE_EDIT or kind is None) and isinstance(edited, dict):
            return MessageEdited(
                channel_id=instance,
                provider_message_id=str(target),
                new_text=_edited_text(edited),
                timestamp=when,
                from_me=from_me,
                raw=raw,
            )
        return None

    def _parse_edited(self, data: dict, instance: str) -> MessageEdited | MessageDeleted | None:
        """`messages.edited`: the protocolMessage itself (Baileys; some versions send revokes here
        too), or `{key, message}` with the new content (other channels of Evolution)."""
        key = data.get("key") if isinstance(data.get("key"), dict) else {}
        from_me = bool(key.get("fromMe"))
        if "type" in data or "editedMessage" in data:
            return self._parse_protocol(data, instance, from_me=from_me, raw=data)
        message = data.get("message")
        if isinstance(message, dict) and key.get("id"):
            inner = unwrap(message)
            if isinstance(inner.get("protocolMessage"), dict):
                return self._parse_protocol(inner["protocolMessage"], instance, from_me=from_me, raw=data)
            when = data.get("messageTimestamp")
            return MessageEdited(
                channel_id=instance,
                provider_message_id=str(key["id"]),
                new_text=_edited_text(message),
                timestamp=_timestamp(when) if when else None,
                from_me=from_me,
                raw=data,
            )
        logger.debug("evolution edit without a message key ignored")
        return None

    def _parse_delete(self, data: dict, instance: str) -> MessageDeleted | None:
        """`messages.delete`: the deleted message's key, bare (`{remoteJid, fromMe, id}`) or under `key`."""
        key = data.get("key") if isinstance(data.get("key"), dict) else data
        message_id = key.get("id") or data.get("keyId")
        if not message_id:
            return None
        return MessageDeleted(
            channel_id=instance,
            provider_message_id=str(message_id),
            timestamp=None,
            from_me=bool(key.get("fromMe")),
            raw=data,
        )

    def _parse_update(self, data: dict, instance: str) -> Event | None:
        """`messages.update`: an ack, or (versions that attach the new content) an edit.

        A status outside the acks (`DELETED`) is not taken for a revoke: Evolution reports revokes
        as `messages.delete`, and the versions that map unknown statuses to `DELETED` do so for
        edits too, so treating it as a deletion would hide edited messages."""
        message = data.get("message")
        message_id = data.get("keyId") or (data.get("key") or {}).get("id")
        if isinstance(message, dict) and isinstance(message.get("editedMessage"), dict) and message_id:
            inner = unwrap(message)
            from_me = data.get("fromMe", (data.get("key") or {}).get("fromMe"))
            if isinstance(inner.get("protocolMessage"), dict):
                return self._parse_protocol(inner["protocolMessage"], instance, from_me=bool(from_me), raw=data)
            return MessageEdited(
                channel_id=instance,
                provider_message_id=str(message_id),
                new_text=_edited_text(inner),
                timestamp=None,
                from_me=bool(from_me),
                raw=data,
            )
        return self._parse_ack(data, instance)

    def _parse_ack(self, data: dict, instance: str) -> StatusUpdate | None:
        message_id = data.get("keyId") or (data.get("key") or {}).get("id")
        raw_status = data.get("status")
        if raw_status is None:
            raw_status = (data.get("update") or {}).get("status")
        status = _ACKS.get(str(raw_status).upper())
        if not message_id or status is None:  # DELETED (a revoke) or unknown
            return None
        remote_jid = str(data.get("remoteJid") or (data.get("key") or {}).get("remoteJid") or "")
        from_me = data.get("fromMe")
        if from_me is None:
            from_me = (data.get("key") or {}).get("fromMe", True)
        return StatusUpdate(
            channel_id=instance,
            provider_message_id=message_id,
            status=status,
            timestamp=None,
            recipient_id=_jid_phone(remote_jid) or remote_jid,
            from_me=bool(from_me),
            raw=data,
        )

    def _parse_connection(self, data: dict, instance: str) -> ConnectionUpdate:
        state = str(data.get("state") or "")
        reason = data.get("statusReason")
        return ConnectionUpdate(
            channel_id=str(data.get("instance") or instance),
            status=_STATES.get(state, ConnectionStatus.DISCONNECTED),
            state=state,
            status_reason=int(reason) if isinstance(reason, int | str) and str(reason).isdigit() else None,
            phone=_jid_phone(data.get("wuid")),
            profile_name=str(data.get("profileName") or ""),
            raw=data,
        )

    def _parse_qrcode(self, data: dict, instance: str) -> ConnectionUpdate:
        qrcode = data.get("qrcode") if isinstance(data.get("qrcode"), dict) else {}
        if qrcode.get("base64"):
            return ConnectionUpdate(
                channel_id=str(qrcode.get("instance") or instance),
                status=ConnectionStatus.QRCODE,
                state="qrcode",
                qrcode=as_data_url(qrcode["base64"]),
                pairing_code=str(qrcode.get("pairingCode") or ""),
                raw={},  # the QR is a credential: not kept in the raw copy either
            )
        # QR attempt limit reached: {message, statusCode} (a connection.update "refused" follows).
        code = data.get("statusCode")
        return ConnectionUpdate(
            channel_id=instance,
            status=ConnectionStatus.DISCONNECTED,
            state="refused",
            status_reason=int(code) if isinstance(code, int) else None,
            raw=data,
        )

    # --- sending --------------------------------------------------------------------

    def _send(self, route: str, body: dict[str, Any], reply_to: str | None) -> SendResult:
        if reply_to:
            body["quoted"] = {"key": {"id": reply_to}}
        data = http.json_or_empty(self._call("POST", route, json=body))
        key = data.get("key") if isinstance(data, dict) else None
        if not isinstance(key, dict) or not key.get("id"):
            raise ProviderError(code="invalid_response", retryable=False, http_status=201)
        return SendResult(key["id"], data, recipient_id=_jid_phone(key.get("remoteJid")) or "")

    @staticmethod
    def _number(to: str) -> str:
        return to if "@" in to else to.removeprefix("+")

    def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SendResult:
        return self._send("message/sendText", {"number": self._number(to), "text": text}, reply_to)

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
        media = url if url is not None else base64.b64encode(content).decode("ascii")
        number = self._number(to)
        if kind == MessageType.VOICE:
            return self._send("message/sendWhatsAppAudio", {"number": number, "audio": media}, reply_to)
        if kind == MessageType.STICKER:
            return self._send("message/sendSticker", {"number": number, "sticker": media}, reply_to)
        body: dict[str, Any] = {"number": number, "mediatype": _EVOLUTION_MEDIATYPE[kind], "media": media}
        if mime_type:
            body["mimetype"] = mime_type
        if caption:
            body["caption"] = caption
        if filename:
            body["fileName"] = filename
        return self._send("message/sendMedia", body, reply_to)

    def mark_read(self, message_id: str, *, chat_id: str = "") -> None:
        if not chat_id:
            raise ValueError("Evolution needs the chat JID to mark a message as read")
        remote_jid = chat_id if "@" in chat_id else f"{chat_id.removeprefix('+')}{USER_SERVER}"
        self._call(
            "POST",
            "chat/markMessageAsRead",
            json={"readMessages": [{"remoteJid": remote_jid, "fromMe": False, "id": message_id}]},
        )

    # --- media and health ---------------------------------------------------------

    def download_media(self, media_ref: str) -> DownloadedMedia:
        """Evolution decrypts the WhatsApp media (webhook `url`s are encrypted `.enc` files)."""
        max_bytes = settings.WHATSAPP_MEDIA_MAX_BYTES
        raw, _ = http.download(
            self._url("chat/getBase64FromMediaMessage"),
            method="POST",
            provider=self.provider,
            parse_error=evolution_error,
            max_bytes=max_bytes * 4 // 3 + 64 * 1024,  # base64 inside JSON
            client=self._client,
            headers={"apikey": self.connection.api_key},
            json={"message": {"key": {"id": media_ref}}, "convertToMp4": False},
        )
        try:
            data = json.loads(raw)
            content = base64.b64decode(data["base64"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ProviderError(code="invalid_response", retryable=False) from None
        if len(content) > max_bytes:
            raise ProviderError(code="media_too_large", retryable=False)
        return DownloadedMedia(content, str(data.get("mimetype") or ""), str(data.get("fileName") or ""))

    def check(self) -> dict[str, Any]:
        data = http.json_or_empty(self._call("GET", "instance/connectionState"))
        state = str(((data.get("instance") or {}) if isinstance(data, dict) else {}).get("state") or "")
        return {"status": _STATES.get(state, ConnectionStatus.DISCONNECTED), "state": state, "raw": data}

    # --- instance lifecycle -----------------------------------------------------------

    def webhook_config(self, webhook_url: str) -> dict[str, Any]:
        return {
            "enabled": True,
            "url": webhook_url,
            "headers": {"Authorization": f"Bearer {self.connection.webhook_secret}"},
            "byEvents": False,
            "base64": False,
            "events": WEBHOOK_EVENTS,
        }

    def create_instance(self, *, webhook_url: str | None = None) -> dict[str, Any]:
        """Creates the instance on the Evolution server. The result's `token` is the instance's own
        API key (a secret: store it encrypted, e.g. as the connection's api_key, or drop it)."""
        body: dict[str, Any] = {"instanceName": self.instance, "integration": "WHATSAPP-BAILEYS", "qrcode": True}
        if webhook_url:
            body["webhook"] = self.webhook_config(webhook_url)
        response = http.call(
            "POST",
            f"{self.base_url}/instance/create",
            provider=self.provider,
            parse_error=evolution_error,
            client=self._client,
            headers={"apikey": self.connection.api_key},
            json=body,
        )
        data = http.json_or_empty(response)
        instance = data.get("instance") or {}
        token = data.get("hash")
        if isinstance(token, dict):  # v1 shape: {"apikey": …}
            token = token.get("apikey")
        qrcode = data.get("qrcode") or {}
        return {
            "instance_id": instance.get("instanceId", ""),
            "status": _STATES.get(str(instance.get("status") or ""), ConnectionStatus.CONNECTING),
            "token": token or "",
            "qrcode": as_data_url(qrcode.get("base64") or ""),
            "pairing_code": qrcode.get("pairingCode") or "",
        }

    def fetch_qrcode(self) -> str | None:
        """A fresh QR code as `data:image/png;base64,…`, or None when the session is already open."""
        data = http.json_or_empty(self._call("GET", "instance/connect"))
        if isinstance(data, dict) and data.get("base64"):
            return as_data_url(data["base64"])
        return None

    def logout(self) -> None:
        self._call("DELETE", "instance/logout")

    def set_webhook(self, webhook_url: str) -> None:
        self._call("POST", "webhook/set", json={"webhook": self.webhook_config(webhook_url)})


def evolution_error(response: httpx2.Response) -> ProviderError:
    """Evolution's error body `{"status", "error", "response": {"message": [...]}}` → ProviderError."""
    status = response.status_code
    payload = http.json_or_empty(response)
    payload = payload if isinstance(payload, dict) else {}
    inner = payload.get("response")
    message = inner.get("message") if isinstance(inner, dict) else None
    messages = message if isinstance(message, list) else [message] if message else []
    detail = "; ".join(json.dumps(m, ensure_ascii=False) if isinstance(m, dict) else str(m) for m in messages)
    if status == 403 and any("already in use" in str(m) for m in messages):
        code = "instance_exists"
    elif status in (401, 403):
        code = "unauthorized"
    elif status == 404:
        code = "instance_not_found"
    elif status == 400 and any(isinstance(m, dict) and m.get("exists") is False for m in messages):
        code = "not_on_whatsapp"
    elif status == 429:
        code = "rate_limited"
    elif status >= 500:
        code = "server_error"
    else:
        code = "bad_request"
    return ProviderError(
        code=code, title=str(payload.get("error") or f"HTTP {status}"), provider_detail=detail, http_status=status
    )
