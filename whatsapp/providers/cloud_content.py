"""Cloud API inbound message content (`message[type]`) → the type-specific fields of an IncomingMessage."""

from __future__ import annotations

from typing import Any

from whatsapp.choices import MessageType
from whatsapp.providers.base import SharedContact

_MEDIA_TYPES = {
    "image": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "audio": MessageType.AUDIO,
    "document": MessageType.DOCUMENT,
    "sticker": MessageType.STICKER,
}


def content_fields(kind: str, content: dict, message: dict) -> dict[str, Any]:
    """The type-specific part of an inbound message (`content` is `message[kind]`)."""
    if kind == "text":
        return {"type": MessageType.TEXT, "text": content.get("body", "")}
    if kind in _MEDIA_TYPES:
        message_type = _MEDIA_TYPES[kind]
        if kind == "audio" and content.get("voice"):
            message_type = MessageType.VOICE
        return {
            "type": message_type,
            "text": content.get("caption", ""),
            "media_ref": str(content.get("id", "")),
            "mime_type": content.get("mime_type", ""),
            "sha256": content.get("sha256", ""),
            "filename": content.get("filename", ""),
        }
    if kind == "location":
        return {
            "type": MessageType.LOCATION,
            "latitude": _float(content.get("latitude")),
            "longitude": _float(content.get("longitude")),
            "location_name": content.get("name", ""),
            "location_address": content.get("address", ""),
            "location_url": content.get("url", ""),
        }
    if kind == "contacts":
        cards = message.get("contacts") if isinstance(message.get("contacts"), list) else []
        return {"type": MessageType.CONTACTS, "contacts": tuple(_shared_contact(card) for card in cards)}
    if kind == "interactive":
        subtype = content.get("type", "")
        reply = content.get(subtype) if isinstance(content.get(subtype), dict) else {}
        if subtype == "nfm_reply":  # WhatsApp Flows: the answers are JSON in response_json
            return {
                "type": MessageType.INTERACTIVE_REPLY,
                "subtype": subtype,
                "reply_id": reply.get("name", ""),
                "reply_title": reply.get("body", ""),
                "text": reply.get("response_json", ""),
            }
        return {
            "type": MessageType.INTERACTIVE_REPLY,
            "subtype": subtype,
            "reply_id": reply.get("id", ""),
            "reply_title": reply.get("title", ""),
            "text": reply.get("title", ""),
        }
    if kind == "button":
        return {
            "type": MessageType.BUTTON_REPLY,
            "reply_id": content.get("payload", ""),
            "reply_title": content.get("text", ""),
            "text": content.get("text", ""),
        }
    if kind == "reaction":
        return {
            "type": MessageType.REACTION,
            "reaction_to_id": content.get("message_id", ""),
            "reaction_emoji": content.get("emoji") or None,  # omitted or "" = removed
        }
    if kind == "system":
        return {
            "type": MessageType.SYSTEM,
            "subtype": content.get("type", ""),
            "text": content.get("body", ""),
            "new_chat_id": content.get("new_wa_id") or content.get("wa_id", ""),
        }
    # unsupported, order, request_welcome, anything newer: kept as a placeholder with its kind.
    subtype = content.get("type", "") if kind == "unsupported" else kind
    return {"type": MessageType.UNSUPPORTED, "subtype": subtype}


def _shared_contact(card: dict) -> SharedContact:
    name = card.get("name") or {}
    phones = [phone for phone in _as_list(card.get("phones")) if isinstance(phone, dict)]
    org = card.get("org") or {}
    return SharedContact(
        name=name.get("formatted_name")
        or " ".join(part for part in (name.get("first_name"), name.get("last_name")) if part),
        phones=tuple(phone.get("phone", "") for phone in phones if phone.get("phone")),
        wa_ids=tuple(phone["wa_id"] for phone in phones if phone.get("wa_id")),
        emails=tuple(email.get("email", "") for email in _as_list(card.get("emails")) if email.get("email")),
        organization=org.get("company", ""),
    )


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []
