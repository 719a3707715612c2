"""Edits and deletions for everyone ("apagada para todos") of messages already stored.

Called by whatsapp.inbound inside the event's transaction, like the appliers of tickets.inbound.
The message row is locked first, so two deliveries of the same change run one after the other and
the second finds nothing left to do. The helpdesk keeps what was said: an edit moves the previous
text into `payload["edits"]`, a deletion keeps the text and only sets `deleted_at`.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django.utils.translation import gettext as _

from tickets import events
from tickets.inbound import PREVIEW_LENGTH, message_preview
from tickets.models import Message, Ticket
from whatsapp.models import Connection
from whatsapp.providers.base import MessageDeleted, MessageEdited

logger = logging.getLogger("tickets.message_changes")


def deleted_preview() -> str:
    return "🚫 " + _("This message was deleted")


def _locked_message(connection: Connection, provider_message_id: str) -> Message | None:
    return (
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .filter(connection=connection, provider_message_id=provider_message_id)
        .first()
    )


def _refresh_ticket_preview(message: Message, preview: str) -> None:
    """The ticket list shows its latest message: if this is it, show the change there too.

    The update is conditional on no newer message having arrived meanwhile (a concurrent inbound
    message moves `last_message_at` forward under its own ticket lock), so no lock is taken here.
    """
    ticket: Ticket = message.ticket
    if message.is_internal_note or ticket.last_message_at is None or message.sent_at < ticket.last_message_at:
        return
    preview = preview[:PREVIEW_LENGTH]
    if ticket.last_message_preview == preview:
        return
    now = timezone.now()
    updated = Ticket.objects.filter(pk=ticket.pk, last_message_at__lte=message.sent_at).update(
        last_message_preview=preview, updated_at=now
    )
    if updated:
        ticket.last_message_preview, ticket.updated_at = preview, now
        events.ticket_updated(ticket)


def message_edit_apply(*, connection: Connection, update: MessageEdited) -> Message | None:
    """Replace a message's text with its edited version. Returns the message when it changed; None
    for an unknown message, a repeated or stale edit, or an edit of a deleted message."""
    message = _locked_message(connection, update.provider_message_id)
    if message is None:
        logger.info("edit of an unknown message ignored", extra={"connection_id": connection.pk})
        return None
    if message.deleted_at is not None or message.text == update.new_text:
        return None
    if update.timestamp and message.edited_at and update.timestamp < message.edited_at:
        # An older edit delivered after a newer one: the newer text stays.
        logger.info("stale edit ignored", extra={"connection_id": connection.pk, "message_id": message.pk})
        return None
    edited_at = update.timestamp or timezone.now()
    payload = dict(message.payload or {})
    payload["edits"] = [
        *payload.get("edits", []),
        {"text": message.text, "replaced_at": edited_at.isoformat()},
    ]
    message.payload = payload
    message.text = update.new_text
    message.edited_at = edited_at
    message.save(update_fields=["text", "payload", "edited_at", "updated_at"])
    events.message_updated(message)
    _refresh_ticket_preview(message, message_preview(message))
    return message


def message_delete_apply(*, connection: Connection, update: MessageDeleted) -> Message | None:
    """Mark a message deleted for everyone, keeping its content. Returns the message when it changed;
    None for an unknown or already deleted message."""
    message = _locked_message(connection, update.provider_message_id)
    if message is None:
        logger.info("deletion of an unknown message ignored", extra={"connection_id": connection.pk})
        return None
    if message.deleted_at is not None:
        return None
    message.deleted_at = update.timestamp or timezone.now()
    message.save(update_fields=["deleted_at", "updated_at"])
    events.message_updated(message)
    _refresh_ticket_preview(message, deleted_preview())
    return message
