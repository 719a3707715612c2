"""The words of the WhatsApp domain as `TextChoices`, shared by the models and the provider adapters."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Provider(models.TextChoices):
    CLOUD = "cloud", _("WhatsApp Cloud API (Meta)")
    EVOLUTION = "evolution", _("Evolution API")


class ConnectionStatus(models.TextChoices):
    DISCONNECTED = "disconnected", _("Disconnected")
    QRCODE = "qrcode", _("Waiting for QR code scan")
    CONNECTING = "connecting", _("Connecting")
    CONNECTED = "connected", _("Connected")


class InboundEventStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSED = "processed", _("Processed")
    FAILED = "failed", _("Failed")
    IGNORED = "ignored", _("Ignored")


class MessageType(models.TextChoices):
    TEXT = "text", _("Text")
    IMAGE = "image", _("Image")
    AUDIO = "audio", _("Audio")
    VOICE = "voice", _("Voice note")
    VIDEO = "video", _("Video")
    DOCUMENT = "document", _("Document")
    STICKER = "sticker", _("Sticker")
    LOCATION = "location", _("Location")
    CONTACTS = "contacts", _("Contacts")
    INTERACTIVE_REPLY = "interactive_reply", _("Reply to buttons or list")
    BUTTON_REPLY = "button_reply", _("Template button reply")
    REACTION = "reaction", _("Reaction")
    UNSUPPORTED = "unsupported", _("Unsupported")
    SYSTEM = "system", _("System")


MEDIA_TYPES = frozenset(
    {
        MessageType.IMAGE,
        MessageType.AUDIO,
        MessageType.VOICE,
        MessageType.VIDEO,
        MessageType.DOCUMENT,
        MessageType.STICKER,
    }
)


class DeliveryStatus(models.TextChoices):
    """Lifecycle of an outbound message. Ordered pending < sent < delivered < read < played; failed is terminal."""

    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    PLAYED = "played", _("Played")
    FAILED = "failed", _("Failed")

    @classmethod
    def rank(cls, status: str) -> int:
        return _DELIVERY_RANK[status]

    @classmethod
    def advances(cls, current: str | None, new: str) -> bool:
        """Whether a status update `new` should replace the stored `current` one.

        Statuses only move forward (duplicates and late `delivered` after `read` are no-ops); `failed`
        wins over pending/sent but never over delivered or later, and nothing moves a failed message.
        """
        if current is None:
            return True
        if current == cls.FAILED:
            return False
        if new == cls.FAILED:
            return _DELIVERY_RANK[current] <= _DELIVERY_RANK[cls.SENT]
        return _DELIVERY_RANK[new] > _DELIVERY_RANK[current]


_DELIVERY_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.PLAYED: 4,
    DeliveryStatus.FAILED: 5,
}
