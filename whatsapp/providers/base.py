"""What every WhatsApp provider adapter speaks: normalized events in, normalized results out.

An adapter is built from one `Connection` (`get_adapter(connection)`) and hides its provider's wire
format completely: webhook bodies become `IncomingMessage` / `StatusUpdate` / `MessageEdited` /
`MessageDeleted` / `ConnectionUpdate` / `ProviderNotice`, sends return a `SendResult`, failures raise
`ProviderError`. Adapters make HTTP calls but never touch the database; applying events is the
services' job.
"""

from __future__ import annotations

import base64
import hmac
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from whatsapp.choices import ConnectionStatus, DeliveryStatus, MessageType
from whatsapp.providers.errors import RETRYABLE_CODES, ProviderError, explain

if TYPE_CHECKING:
    from whatsapp.models import Connection

__all__ = [
    "ConnectionStatus",
    "ConnectionUpdate",
    "DeliveryStatus",
    "DownloadedMedia",
    "Event",
    "IncomingMessage",
    "MalformedPayload",
    "MessageDeleted",
    "MessageEdited",
    "MessageType",
    "ProviderAdapter",
    "ProviderError",
    "ProviderNotice",
    "SendResult",
    "SharedContact",
    "StatusUpdate",
]

# Kinds accepted by `send_media`.
MEDIA_KINDS = frozenset(
    {
        MessageType.IMAGE,
        MessageType.VIDEO,
        MessageType.AUDIO,
        MessageType.VOICE,
        MessageType.DOCUMENT,
        MessageType.STICKER,
    }
)


class MalformedPayload(ValueError):
    """A webhook body that is JSON but lacks what every payload of its kind carries (id, timestamp)."""


def utc_from_unix(seconds: int | str | float) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedContact:
    """A contact card the customer sent (content of a message, not a new customer)."""

    name: str
    phones: tuple[str, ...] = ()  # as written on the card
    wa_ids: tuple[str, ...] = ()  # WhatsApp ids of those phones, when the provider says
    emails: tuple[str, ...] = ()
    organization: str = ""
    vcard: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingMessage:
    """A message in a chat: from the customer, or (`from_me`) sent by the business outside Prosa.

    Identity: `chat_id` is the provider's id of the conversation partner (Cloud: `wa_id`, or the
    business-scoped user id when the phone is withheld; Evolution: the chat JID, possibly a LID).
    `phone` is E.164 digits only when the provider really gave a phone (never derived from a LID).
    Idempotency key: (connection, `provider_message_id`).
    """

    channel_id: str  # Cloud: metadata.phone_number_id · Evolution: instance name
    provider_message_id: str
    chat_id: str
    phone: str | None
    timestamp: datetime
    type: MessageType
    profile_name: str = ""  # never the business's own name (Evolution `fromMe`)
    user_id: str = ""  # Cloud business-scoped user id (BSUID), when present
    username: str = ""
    from_me: bool = False
    is_group: bool = False
    forwarded: bool = False
    text: str = field(default="", repr=False)  # body, or the media caption
    subtype: str = ""  # interactive: button_reply/list_reply/nfm_reply · unsupported/system: their type
    media_ref: str = ""  # Cloud media id · Evolution message key id (both feed download_media)
    mime_type: str = ""
    filename: str = ""
    sha256: str = ""
    latitude: float | None = None
    longitude: float | None = None
    location_name: str = ""
    location_address: str = ""
    location_url: str = ""
    contacts: tuple[SharedContact, ...] = field(default=(), repr=False)
    reply_id: str = ""  # id/payload of the chosen button or list row
    reply_title: str = ""
    reaction_to_id: str = ""
    reaction_emoji: str | None = None  # None on a reaction message = the reaction was removed
    quoted_message_id: str = ""
    new_chat_id: str = ""  # system "user changed number": the new wa_id
    error_code: str = ""  # unsupported/failed inbound messages
    error_title: str = ""
    referral: Mapping[str, Any] | None = field(default=None, repr=False)  # Click-to-WhatsApp ad
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def sender_wa_id(self) -> str:
        """The contact identity the message is filed under: the phone when the provider gave
        one, else the chat id (crm.identity matches both forms of a Brazilian number)."""
        return self.phone or self.chat_id

    @property
    def has_media(self) -> bool:
        return bool(self.media_ref)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    """The fate of a message the business sent. Apply with `DeliveryStatus.advances` (monotonic);
    idempotency key `(provider_message_id, status)`; an unknown message id is normal (races)."""

    channel_id: str
    provider_message_id: str
    status: DeliveryStatus
    timestamp: datetime | None  # None when the provider does not say (Evolution acks)
    recipient_id: str = ""
    from_me: bool = True  # Evolution also acks the customer's messages as *we* read them
    error_code: str = ""
    error_title: str = ""
    error_detail: str = ""
    callback_data: str = ""  # Cloud biz_opaque_callback_data echoed back
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def idempotency_key(self) -> tuple[str, str]:
        return (self.provider_message_id, str(self.status))

    @property
    def explanation(self) -> str:
        return explain(self.error_code) if self.error_code else ""

    @property
    def retryable(self) -> bool:
        return self.error_code in RETRYABLE_CODES


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionUpdate:
    """The provider session changed state (Evolution): connected, closed, or a new QR code to scan."""

    channel_id: str
    status: ConnectionStatus
    state: str = ""  # the provider's own word (open/connecting/close/refused)
    status_reason: int | None = None  # Baileys DisconnectReason (401 logged out, 440 replaced…)
    qrcode: str = field(default="", repr=False)  # data:image/png;base64,… — a secret, never logged
    pairing_code: str = field(default="", repr=False)
    phone: str | None = None
    profile_name: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def logged_out(self) -> bool:
        return self.status_reason in (401, 403)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderNotice:
    """An account-level problem the provider reported outside any message (Cloud `value.errors[]`)."""

    channel_id: str
    code: str
    title: str = ""
    detail: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def explanation(self) -> str:
        return explain(self.code)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEdited:
    """Someone edited a message already in the chat (WhatsApp allows it for 15 minutes).

    `provider_message_id` is the edited message's own id (the edit carries an id of its own, which
    is never stored). `from_me`: the business edited it (Evolution, Cloud coexistence echoes).
    Idempotency: applying the same `new_text` twice changes nothing the second time.
    """

    channel_id: str
    provider_message_id: str
    new_text: str = field(repr=False)
    timestamp: datetime | None  # None when the provider does not say
    from_me: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeleted:
    """A message was deleted for everyone ("apagada para todos"). Its content stays on our side
    (the helpdesk's record), marked deleted."""

    channel_id: str
    provider_message_id: str
    timestamp: datetime | None
    from_me: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


Event = IncomingMessage | StatusUpdate | ConnectionUpdate | ProviderNotice | MessageEdited | MessageDeleted


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_message_id: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    recipient_id: str = ""  # Cloud: the wa_id the number resolved to (may differ, e.g. Brazil's 9th digit)


class DownloadedMedia(NamedTuple):
    content: bytes
    mime_type: str
    filename: str


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup in any mapping: Django's `request.headers`, a plain dict, or
    `request.META` (`HTTP_X_HUB_SIGNATURE_256`)."""
    wanted = name.lower()
    meta_name = "HTTP_" + name.upper().replace("-", "_")
    for key, value in headers.items():
        if key.lower() == wanted or key == meta_name:
            return value
    return None


def constant_time_equals(presented: str | None, expected: str | None) -> bool:
    """Compares secrets without leaking their length or prefix through timing; empty never matches."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def as_data_url(value: str, mime_type: str = "image/png") -> str:
    """A QR code from the provider → `data:image/png;base64,…` whether or not it carried the prefix."""
    if not value:
        return ""
    if value.startswith("data:"):
        return value
    base64.b64decode(value, validate=True)  # raises on garbage rather than handing it to a browser
    return f"data:{mime_type};base64,{value}"


class ProviderAdapter(ABC):
    """The operations Prosa needs from a WhatsApp provider, for one connection.

    Every outbound call has a timeout (settings.WHATSAPP_HTTP_TIMEOUT) and raises `ProviderError`
    on failure — `retryable` for network errors, timeouts, 5xx and throttling, permanent otherwise.
    Pass `http_client` (an `httpx2.Client`) to reuse connections across calls; by default each call
    opens and closes its own.
    """

    provider: str

    def __init__(self, connection: Connection, *, http_client=None):
        self.connection = connection
        self._client = http_client

    # --- webhooks --------------------------------------------------------------

    @abstractmethod
    def verify_webhook(
        self, *, headers: Mapping[str, str], body: bytes, query: Mapping[str, str], secret: str | None = None
    ) -> bool:
        """Whether a webhook POST really comes from the provider for this connection.

        `headers` are the request's (case-insensitive lookup is done here), `body` the raw bytes as
        received, `secret` the secret the caller found in the URL path, if its route carries one.
        """

    @abstractmethod
    def parse_webhook(self, body: bytes) -> list[Event]:
        """Every event in one webhook body, in payload order. Unknown kinds are skipped, never fatal;
        a body that is not JSON at all raises `ValueError`."""

    # --- sending ---------------------------------------------------------------

    @abstractmethod
    def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SendResult: ...

    @abstractmethod
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
        """Send an image/video/audio/voice/document/sticker given by public `url` or by `content`."""

    def send_template(
        self, to: str, name: str, language: str, components: Sequence[Mapping[str, Any]] = ()
    ) -> SendResult:
        raise ProviderError(code="not_supported", retryable=False)

    @abstractmethod
    def mark_read(self, message_id: str, *, chat_id: str = "") -> None: ...

    # --- message templates (Cloud API) ------------------------------------------

    def list_templates(self) -> list[dict[str, Any]]:
        """Every template of the account, as the provider describes them (all pages)."""
        raise ProviderError(code="not_supported", retryable=False)

    def create_template(
        self, *, name: str, language: str, category: str, components: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Submits a template for approval; `{"id", "status", "category"}`."""
        raise ProviderError(code="not_supported", retryable=False)

    # --- media and health ------------------------------------------------------

    @abstractmethod
    def download_media(self, media_ref: str) -> DownloadedMedia: ...

    @abstractmethod
    def check(self) -> dict[str, Any]:
        """Ask the provider whether the connection works; `{"status": ConnectionStatus, ...}`."""

    # --- Evolution (QR-code sessions) ------------------------------------------

    def create_instance(self, *, webhook_url: str | None = None) -> dict[str, Any]:
        raise ProviderError(code="not_supported", retryable=False)

    def fetch_qrcode(self) -> str | None:
        raise ProviderError(code="not_supported", retryable=False)

    def logout(self) -> None:
        raise ProviderError(code="not_supported", retryable=False)

    def set_webhook(self, webhook_url: str) -> None:
        raise ProviderError(code="not_supported", retryable=False)

    @staticmethod
    def _check_media_kind(kind: str, url: str | None, content: bytes | None) -> MessageType:
        if kind not in MEDIA_KINDS:
            raise ValueError(f"not a media kind: {kind!r}")
        if (url is None) == (content is None):
            raise ValueError("give exactly one of url or content")
        return MessageType(kind)
