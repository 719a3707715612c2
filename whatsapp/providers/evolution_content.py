"""Evolution (Baileys proto) message content → the type-specific fields of an IncomingMessage."""

from __future__ import annotations

import re
from typing import Any

from whatsapp.choices import MessageType
from whatsapp.providers.base import SharedContact

# Proto wrappers whose `message` holds the real content.
_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)
_MEDIA = {
    "imageMessage": MessageType.IMAGE,
    "videoMessage": MessageType.VIDEO,
    "ptvMessage": MessageType.VIDEO,  # round video note
    "audioMessage": MessageType.AUDIO,
    "documentMessage": MessageType.DOCUMENT,
    "stickerMessage": MessageType.STICKER,
}
# Keys of `message` that are never the content.
_NOT_CONTENT = {"messageContextInfo", "base64", "mediaUrl", "contextInfo"}


def unwrap(message: dict) -> dict:
    for _ in range(4):  # wrappers can nest (ephemeral → viewOnce → …)
        for wrapper in _WRAPPERS:
            inner = message.get(wrapper)
            if isinstance(inner, dict) and isinstance(inner.get("message"), dict):
                message = inner["message"]
                break
        else:
            return message
    return message


def find_content_key(message: dict, message_type: Any) -> str:
    if isinstance(message_type, str) and isinstance(message.get(message_type), dict | str):
        return message_type
    for key, value in message.items():
        if key not in _NOT_CONTENT and value not in (None, "", {}):
            return key
    return ""


def content_fields(key: str, content: dict, message: dict, message_id: str) -> dict[str, Any]:
    if key == "conversation":
        return {"type": MessageType.TEXT, "text": str(message.get("conversation") or "")}
    if key == "extendedTextMessage":
        return {"type": MessageType.TEXT, "text": content.get("text", "")}
    if key in _MEDIA:
        message_type = _MEDIA[key]
        if key == "audioMessage" and content.get("ptt"):
            message_type = MessageType.VOICE
        sha256 = content.get("fileSha256")
        return {
            "type": message_type,
            "text": content.get("caption") or "",
            # Evolution finds (and decrypts) media by the message's key id.
            "media_ref": message_id,
            "mime_type": content.get("mimetype") or "",
            "filename": content.get("fileName") or "",
            "sha256": sha256 if isinstance(sha256, str) else "",
        }
    if key in ("locationMessage", "liveLocationMessage"):
        return {
            "type": MessageType.LOCATION,
            "latitude": _float(content.get("degreesLatitude")),
            "longitude": _float(content.get("degreesLongitude")),
            "location_name": content.get("name") or "",
            "location_address": content.get("address") or "",
            "location_url": content.get("url") or "",
        }
    if key == "contactMessage":
        return {"type": MessageType.CONTACTS, "contacts": (contact_from_vcard(content),)}
    if key == "contactsArrayMessage":
        cards = [card for card in content.get("contacts") or [] if isinstance(card, dict)]
        return {"type": MessageType.CONTACTS, "contacts": tuple(contact_from_vcard(card) for card in cards)}
    if key == "reactionMessage":
        return {
            "type": MessageType.REACTION,
            "reaction_to_id": (content.get("key") or {}).get("id", ""),
            "reaction_emoji": content.get("text") or None,  # "" = reaction removed
        }
    if key == "buttonsResponseMessage":
        title = content.get("selectedDisplayText") or ""
        return {
            "type": MessageType.INTERACTIVE_REPLY,
            "subtype": "button_reply",
            "reply_id": content.get("selectedButtonId") or "",
            "reply_title": title,
            "text": title,
        }
    if key == "listResponseMessage":
        title = content.get("title") or ""
        return {
            "type": MessageType.INTERACTIVE_REPLY,
            "subtype": "list_reply",
            "reply_id": (content.get("singleSelectReply") or {}).get("selectedRowId", ""),
            "reply_title": title,
            "text": title,
        }
    if key == "templateButtonReplyMessage":
        title = content.get("selectedDisplayText") or ""
        return {
            "type": MessageType.BUTTON_REPLY,
            "reply_id": content.get("selectedId") or "",
            "reply_title": title,
            "text": title,
        }
    if key == "protocolMessage":
        kind = content.get("type")
        subtype = {0: "revoke", "REVOKE": "revoke", 14: "edit", "MESSAGE_EDIT": "edit"}.get(kind, str(kind or ""))
        return {"type": MessageType.SYSTEM, "subtype": subtype}
    return {"type": MessageType.UNSUPPORTED, "subtype": key}


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_VCARD_WAID = re.compile(r"waid=(\d+)", re.IGNORECASE)


def contact_from_vcard(card: dict) -> SharedContact:
    """`{displayName, vcard}` → SharedContact, reading FN, TEL (with `waid=`), EMAIL and ORG lines."""
    vcard = str(card.get("vcard") or "")
    name, phones, wa_ids, emails, org = "", [], [], [], ""
    # Unfold continuation lines (RFC 6350 §3.2) before reading properties.
    for line in re.sub(r"\r?\n[ \t]", "", vcard).splitlines():
        prop, sep, value = line.partition(":")
        if not sep:
            continue
        # item1.TEL;waid=…  → property name TEL, parameters after ';'
        name_part, *params = prop.split(";")
        prop_name = name_part.rsplit(".", 1)[-1].upper()
        if prop_name == "FN":
            name = value.strip()
        elif prop_name == "TEL":
            phones.append(value.strip())
            if match := _VCARD_WAID.search(";".join(params)):
                wa_ids.append(match.group(1))
        elif prop_name == "EMAIL":
            emails.append(value.strip())
        elif prop_name == "ORG":
            org = value.split(";")[0].strip()
    return SharedContact(
        name=str(card.get("displayName") or name),
        phones=tuple(phones),
        wa_ids=tuple(wa_ids),
        emails=tuple(emails),
        organization=org,
        vcard=vcard,
    )
