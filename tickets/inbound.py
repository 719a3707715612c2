"""Applying normalized WhatsApp events to tickets and messages.

Called by whatsapp.inbound inside one transaction per event. The contact row is locked first
(crm.identity), so all the messages of one contact are applied one after the other: the open
ticket is found or opened exactly once, and a message already stored (same connection and provider
id) is never stored again. Real-time events and the media download are scheduled on commit.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import mimetypes
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import PurePosixPath

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.services import recipient_status_apply
from config import sql
from crm.identity import (
    ResolvedContact,
    contact_rekey_whatsapp,
    contact_resolve_whatsapp,
    contacts_from_rows,
    whatsapp_sender_lookup,
)
from crm.models import Contact
from crm.selectors import tags_set_loaded
from tickets import events
from tickets.models import Message, Queue, Ticket, TicketEvent
from tickets.routing import closed_ticket_claim, route_inbound_message
from tickets.sequences import ticket_protocol_next
from whatsapp.choices import MEDIA_TYPES, DeliveryStatus, MessageType
from whatsapp.models import Connection
from whatsapp.providers.base import IncomingMessage, StatusUpdate

logger = logging.getLogger("tickets.inbound")

PREVIEW_LENGTH = 200


def _labels() -> dict[str, str]:
    return {
        MessageType.IMAGE: "📷 " + _("Photo"),
        MessageType.AUDIO: "🎵 " + _("Audio"),
        MessageType.VOICE: "🎤 " + _("Voice message"),
        MessageType.VIDEO: "🎥 " + _("Video"),
        MessageType.DOCUMENT: "📄 " + _("Document"),
        MessageType.STICKER: "💟 " + _("Sticker"),
        MessageType.LOCATION: "📍 " + _("Location"),
        MessageType.CONTACTS: "👤 " + _("Contact"),
        MessageType.UNSUPPORTED: "⚠️ " + _("Unsupported message"),
    }


_LABELLED_TYPES = frozenset(  # the keys of _labels(), known without translating
    (MessageType.IMAGE, MessageType.AUDIO, MessageType.VOICE, MessageType.VIDEO, MessageType.DOCUMENT,
     MessageType.STICKER, MessageType.LOCATION, MessageType.CONTACTS, MessageType.UNSUPPORTED)
)  # fmt: skip


def message_preview(message: Message) -> str:
    """What the ticket list shows of a message: its text, or a label for media (with the caption).
    The labels are translated only for a message that has one (not for text, most messages)."""
    label = _labels()[message.type] if message.type in _LABELLED_TYPES else ""
    text = " ".join((message.text or "").split())
    if message.type == MessageType.LOCATION:
        text = (message.payload or {}).get("name", "")
    if label and text:
        preview = f"{label}: {text}"
    else:
        preview = label or text
    return preview[:PREVIEW_LENGTH]


# --- messages ---------------------------------------------------------------------------------


def _payload(incoming: IncomingMessage) -> dict:
    payload: dict = {}
    kind = incoming.type
    if kind == MessageType.LOCATION:
        for key, value in (
            ("name", incoming.location_name),
            ("address", incoming.location_address),
            ("url", incoming.location_url),
        ):
            if value:
                payload[key] = value
    elif kind == MessageType.CONTACTS:
        payload["contacts"] = [
            {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(card).items()}
            for card in incoming.contacts
        ]
    elif kind in (MessageType.INTERACTIVE_REPLY, MessageType.BUTTON_REPLY):
        payload.update(reply_id=incoming.reply_id, reply_title=incoming.reply_title)
        if incoming.subtype:
            payload["subtype"] = incoming.subtype
    elif kind in (MessageType.UNSUPPORTED, MessageType.SYSTEM):
        payload.update(subtype=incoming.subtype, raw=dict(incoming.raw))
        if incoming.new_chat_id:
            payload["new_wa_id"] = incoming.new_chat_id
    if incoming.error_code:
        payload["error"] = {"code": incoming.error_code, "title": incoming.error_title}
    if incoming.forwarded:
        payload["forwarded"] = True
    if incoming.referral:
        payload["referral"] = dict(incoming.referral)
    return payload


def _text(incoming: IncomingMessage) -> str:
    if incoming.type == MessageType.CONTACTS:
        return ", ".join(card.name for card in incoming.contacts if card.name)
    if incoming.type == MessageType.LOCATION:
        return incoming.location_name or incoming.location_address
    return incoming.text


def _ticket_columns() -> str:
    ticket, queue, user = Ticket, Queue, get_user_model()
    return f"{sql.columns(ticket, 't')}, {sql.columns(queue, 'q')}, {sql.columns(user, 'u')}, " + (
        f"EXISTS (SELECT 1 FROM {ticket.tags.through._meta.db_table} tt WHERE tt.ticket_id = t.id)"
    )


def _ticket_joins() -> str:
    return (
        f"LEFT JOIN {Queue._meta.db_table} q ON q.id = t.queue_id "
        f"LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = t.assignee_id"
    )


# 'closed' is written out, not a parameter: the partial unique index of active tickets
# (tickets_ticket_one_active_per_contact) is then usable by the prepared statements' generic plans.
_ACTIVE = f"t.status <> '{Ticket.Status.CLOSED.value}'"


def _created_event_sql(*, tenant_id: int, source: str) -> tuple[str, list]:
    """The `created` TicketEvent of the ticket being inserted (`sql.insert`'s `then`)."""
    data_field = TicketEvent._meta.get_field("data")
    return (
        f"INSERT INTO {TicketEvent._meta.db_table} (tenant_id, ticket_id, type, actor_id, data, created_at) "  # noqa: S608
        "SELECT %s, id, %s, NULL, %s, %s FROM inserted",
        [tenant_id, TicketEvent.Type.CREATED, sql.db_value(data_field, False, {"source": source}), timezone.now()],
    )


@functools.cache
def _active_ticket_sql() -> str:
    return (
        f"SELECT {_ticket_columns()} FROM {Ticket._meta.db_table} t {_ticket_joins()} "  # noqa: S608
        f"WHERE t.tenant_id = %s AND t.contact_id = %s AND t.connection_id = %s AND {_ACTIVE} FOR UPDATE OF t"
    )


@functools.cache
def _sender_sql(candidates_sql: str) -> str:
    """The sender's candidate contacts (crm.identity's lookup) and, in the same statement, the
    active ticket on the connection of each: both locked, contacts first, as two statements did.
    The tickets' columns come from the locking CTE itself: a row updated by a transaction we
    waited for is returned as it is now, not as the statement's snapshot saw it."""
    ticket = Ticket._meta.db_table
    return (
        f"WITH candidates AS ({candidates_sql}), active AS ("  # noqa: S608 — no value is interpolated
        f"SELECT {sql.columns(Ticket, 't')} FROM {ticket} t WHERE t.tenant_id = %s AND t.connection_id = %s "
        f"AND {_ACTIVE} AND t.contact_id IN (SELECT id FROM candidates) FOR UPDATE OF t) "
        f"SELECT candidates.*, active.*, {sql.columns(Queue, 'q')}, {sql.columns(get_user_model(), 'u')}, "
        f"EXISTS (SELECT 1 FROM {Ticket.tags.through._meta.db_table} tt WHERE tt.ticket_id = active.id) "
        "FROM candidates LEFT JOIN active ON active.contact_id = candidates.id "
        f"LEFT JOIN {Queue._meta.db_table} q ON q.id = active.queue_id "
        f"LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = active.assignee_id"
    )


def _ticket_from(row: tuple, start: int, contact: Contact) -> Ticket | None:
    """The ticket (with queue, assignee, and whether it has tags) of `_ticket_columns()` at `start`."""
    if row[start] is None:
        return None
    ticket = sql.instance(Ticket, row, start)
    queue_at, user_at = start + sql.width(Ticket), start + sql.width(Ticket) + sql.width(Queue)
    ticket.queue = sql.instance(Queue, row, queue_at) if ticket.queue_id is not None else None
    ticket.assignee = sql.instance(get_user_model(), row, user_at) if ticket.assignee_id is not None else None
    ticket.contact = contact
    if not row[-1]:
        tags_set_loaded(ticket, [])
    return ticket


def _active_ticket(*, connection: Connection, contact: Contact) -> Ticket | None:
    """The contact's non-closed ticket on this connection (at most one: a unique constraint), locked,
    with its queue and assignee. Plain SQL: building the ORM query (two joins, an annotation) cost
    more than running it."""
    with db_connection.cursor() as cursor:
        cursor.execute(_active_ticket_sql(), [connection.tenant_id, contact.pk, connection.pk])
        row = cursor.fetchone()
    return None if row is None else _ticket_from(row, 0, contact)


def _sender_locked(*, connection: Connection, incoming: IncomingMessage) -> tuple[ResolvedContact, Ticket | None]:
    """Who wrote (crm.identity.contact_resolve_whatsapp: found or created, locked) and their active
    ticket on the connection (locked), in one statement for a known sender — it runs for every
    received message, and two round trips to PostgreSQL cost more than the join."""
    lookup = whatsapp_sender_lookup(tenant_id=connection.tenant_id, wa_id=incoming.sender_wa_id, phone=incoming.phone)
    with db_connection.cursor() as cursor:
        cursor.execute(_sender_sql(lookup.sql), [*lookup.params, connection.tenant_id, connection.pk])
        rows = cursor.fetchall()
    candidates = contacts_from_rows(rows)
    resolved = contact_resolve_whatsapp(
        tenant=connection.tenant,
        wa_id=incoming.sender_wa_id,
        phone=incoming.phone,
        profile_name="" if incoming.from_me else incoming.profile_name,
        lookup=lookup,
        candidates=candidates,
    )
    if resolved.created:
        return resolved, None  # nobody else can have opened a ticket for a contact not committed yet
    for contact, row in zip(candidates, rows, strict=True):
        if contact.pk == resolved.contact.pk:
            return resolved, _ticket_from(row, sql.width(Contact) + 1, resolved.contact)
    # Found otherwise: created meanwhile by another transaction, which we waited for.
    return resolved, _active_ticket(connection=connection, contact=resolved.contact)


def _open_ticket(
    *, connection: Connection, contact: Contact, incoming: IncomingMessage, contact_is_new: bool
) -> tuple[Ticket, bool]:
    """For a contact without an active ticket on this connection: a closed one that takes the
    customer's message (a rating, the reopen window: tickets.routing); else a new one. A contact
    created by this very message has no closed ticket to look for."""
    ticket = None
    if _from_customer(incoming) and not contact_is_new:
        ticket = closed_ticket_claim(connection=connection, contact=contact, text=_text(incoming))
    if ticket is not None:
        ticket.contact = contact
        return ticket, False
    ticket = Ticket(
        tenant_id=connection.tenant_id,
        protocol=ticket_protocol_next(tenant=connection.tenant),
        contact=contact,
        connection=connection,
        status=Ticket.Status.PENDING,
    )
    if not sql.insert(ticket, then=[_created_event_sql(tenant_id=connection.tenant_id, source="whatsapp")]):
        # Opened meanwhile by a path that does not lock the contact (an agent starting a conversation).
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .filter(contact=contact, connection=connection)
            .exclude(status=Ticket.Status.CLOSED)
            .get()
        )
        ticket.contact = contact
        return ticket, False
    tags_set_loaded(ticket, [])
    return ticket, True


def inbound_message_apply(*, connection: Connection, incoming: IncomingMessage) -> Message | None:
    """Store one incoming message (or apply a reaction). Returns the new Message, or None when
    nothing was stored: a duplicate, a reaction, a group message. Run inside a transaction."""
    if incoming.is_group:
        logger.info("group message ignored", extra={"connection_id": connection.pk})
        return None
    if incoming.type == MessageType.REACTION:
        _reaction_apply(connection=connection, incoming=incoming)
        return None

    resolved, ticket = _sender_locked(connection=connection, incoming=incoming)
    contact, ticket_created = resolved.contact, False
    if resolved.created or not getattr(contact, "has_tags", True):
        tags_set_loaded(contact, [])
    # A redelivered message (same provider id in another body) changes nothing. With an active
    # ticket the INSERT below refuses it by itself; before claiming or opening a ticket, ask first.
    was_active = ticket is not None
    if not was_active:
        if not resolved.created and _stored_before(connection, incoming.provider_message_id):
            logger.info("duplicate message ignored", extra={"connection_id": connection.pk})
            return None  # (a contact created by this message has none: the message would be theirs)
        ticket, ticket_created = _open_ticket(
            connection=connection, contact=contact, incoming=incoming, contact_is_new=resolved.created
        )
    ticket.connection, ticket.tenant = connection, connection.tenant  # what routing reads, already loaded

    quoted = None
    if incoming.quoted_message_id:
        quoted = Message.objects.filter(connection=connection, provider_message_id=incoming.quoted_message_id).first()
    has_media = incoming.has_media and incoming.type in MEDIA_TYPES
    message = Message(
        tenant_id=connection.tenant_id,
        ticket=ticket,
        connection=connection,
        direction=Message.Direction.OUTBOUND if incoming.from_me else Message.Direction.INBOUND,
        sender_type=(
            Message.SenderType.PHONE
            if incoming.from_me
            else Message.SenderType.SYSTEM
            if incoming.type == MessageType.SYSTEM
            else Message.SenderType.CONTACT
        ),
        status=DeliveryStatus.SENT if incoming.from_me else "",
        type=incoming.type,
        text=_text(incoming),
        provider_message_id=incoming.provider_message_id,
        quoted=quoted,
        quoted_provider_id=incoming.quoted_message_id,
        media_status=Message.MediaStatus.PENDING if has_media else Message.MediaStatus.NONE,
        media_ref=incoming.media_ref[:200] if has_media else "",
        media_mime=incoming.mime_type[:120],
        media_filename=incoming.filename[:255],
        latitude=incoming.latitude,
        longitude=incoming.longitude,
        payload=_payload(incoming),
        sent_at=incoming.timestamp,
    )
    # The unique (connection, provider id) refuses a message stored before (a redelivery in another
    # body) without a separate lookup; the counters move in the same statement.
    if not sql.insert(message, then=_counters_sql(ticket=ticket, contact=contact, message=message)):
        if not was_active:
            # Checked above: stored meanwhile by a concurrent delivery, after we claimed or opened
            # the ticket. Retried whole (the worker's retry), which then finds it stored.
            raise IntegrityError("message stored by a concurrent delivery")
        logger.info("duplicate message ignored", extra={"connection_id": connection.pk})
        return None  # only the active ticket was locked: nothing was written (the objects are dropped)

    events.inbound_message_created(message, ticket_created=ticket_created, ticket_changed=not was_active)
    rekeyed = bool(
        incoming.type == MessageType.SYSTEM
        and incoming.new_chat_id
        and contact_rekey_whatsapp(contact=contact, new_wa_id=incoming.new_chat_id)
    )
    if resolved.changed or rekeyed:
        events.contact_updated(contact)
    if has_media:
        _schedule_media_download(message)
    if _from_customer(incoming):
        route_inbound_message(ticket=ticket, message=message, ticket_was_created=ticket_created)
    return message


def _stored_before(connection: Connection, provider_message_id: str) -> bool:
    return Message.objects.filter(connection=connection, provider_message_id=provider_message_id).exists()


def _from_customer(incoming: IncomingMessage) -> bool:
    return not incoming.from_me and incoming.type != MessageType.SYSTEM


_INSERTED = "EXISTS (SELECT 1 FROM inserted)"


def _counters_sql(*, ticket: Ticket, contact: Contact, message: Message) -> list[tuple[str, list]]:
    """The UPDATEs (and their parameters) that count a new message on its ticket and, when it
    moves forward, the contact's `last_message_at` — in the message's INSERT (`sql.insert`'s
    `then`), changing nothing unless the message was inserted. Counters move in the
    database (`unread_count + 1`); the locked rows' values are mirrored on the objects here, so the
    real-time payloads are exact without reading the rows again."""
    now = timezone.now()
    sent_at: datetime = message.sent_at
    assignments, params = ["updated_at = %s"], [now]
    ticket.updated_at = now
    if ticket.last_message_at is None or sent_at >= ticket.last_message_at:
        preview = message_preview(message)
        assignments += ["last_message_at = %s", "last_message_preview = %s"]
        params += [sent_at, preview]
        ticket.last_message_at, ticket.last_message_preview = sent_at, preview
    counts_as_unread = (
        message.direction == Message.Direction.INBOUND
        and message.type != MessageType.SYSTEM
        and ticket.status != Ticket.Status.CLOSED  # a rating for a closed ticket is nothing to read
    )
    if counts_as_unread:
        assignments.append("unread_count = unread_count + 1")
        ticket.unread_count += 1
        if ticket.last_inbound_at is None or sent_at > ticket.last_inbound_at:
            assignments.append("last_inbound_at = %s")
            params.append(sent_at)
            ticket.last_inbound_at = sent_at
    updates = [
        (
            f"UPDATE {Ticket._meta.db_table} SET {', '.join(assignments)} "  # noqa: S608
            f"WHERE tenant_id = %s AND id = %s AND {_INSERTED}",
            [*params, ticket.tenant_id, ticket.pk],
        )
    ]
    if contact.last_message_at is None or sent_at > contact.last_message_at:
        updates.append(
            (
                f"UPDATE {Contact._meta.db_table} SET last_message_at = %s "  # noqa: S608
                f"WHERE tenant_id = %s AND id = %s AND {_INSERTED}",
                [sent_at, contact.tenant_id, contact.pk],
            )
        )
        contact.last_message_at = sent_at
    return updates


def _schedule_media_download(message: Message) -> None:
    from whatsapp.tasks import download_media_task

    message_id, tenant_id = message.pk, message.tenant_id
    transaction.on_commit(lambda: download_media_task.delay(message_id=message_id, tenant_id=tenant_id))


def _reaction_apply(*, connection: Connection, incoming: IncomingMessage) -> None:
    """A reaction is no message of its own: it sets (or, without emoji, removes) the reacting
    side's entry in the target message's `reactions`."""
    target = (
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .filter(connection=connection, provider_message_id=incoming.reaction_to_id)
        .first()
    )
    if target is None:
        logger.info("reaction to an unknown message ignored", extra={"connection_id": connection.pk})
        return
    who = "business" if incoming.from_me else "contact"
    reactions = dict(target.reactions or {})
    if incoming.reaction_emoji:
        if reactions.get(who) == incoming.reaction_emoji:
            return
        reactions[who] = incoming.reaction_emoji
    elif who in reactions:
        del reactions[who]
    else:
        return
    target.reactions = reactions
    target.save(update_fields=["reactions", "updated_at"])
    events.message_updated(target)


# --- statuses ---------------------------------------------------------------------------------


def message_status_apply(*, connection: Connection, update: StatusUpdate) -> Message | None:
    """Move an outbound message's delivery status forward (never back). Returns the message when it
    changed; None for duplicates, late statuses, unknown ids and acks of the customer's messages."""
    if not update.from_me:
        return None  # Evolution acks of the customer's messages (our own reads)
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .filter(connection=connection, provider_message_id=update.provider_message_id)
        .first()
    )
    if message is None:
        recipient_status_apply(connection=connection, update=update)  # campaign messages have no ticket
        logger.info("status for an unknown message ignored", extra={"connection_id": connection.pk})
        return None
    if message.direction != Message.Direction.OUTBOUND:
        return None
    if not DeliveryStatus.advances(message.status or None, update.status):
        return None
    message.status = update.status
    fields = ["status", "updated_at"]
    if update.status == DeliveryStatus.FAILED:
        message.error_code = update.error_code[:40]
        message.error_title = update.error_title[:200]
        # The explanation people read first, then the provider's own words for support.
        message.error_detail = "\n\n".join(part for part in (update.explanation, update.error_detail) if part)
        fields += ["error_code", "error_title", "error_detail"]
    message.save(update_fields=fields)
    events.message_updated(message)
    return message


# --- media ------------------------------------------------------------------------------------


def _extension(mime_type: str, filename: str) -> str:
    suffix = PurePosixPath(filename).suffix.lower() if filename else ""
    if suffix and len(suffix) <= 8 and suffix[1:].isalnum():
        return suffix
    guessed = mimetypes.guess_extension(mime_type.split(";")[0].strip()) if mime_type else None
    return guessed or ".bin"


def message_media_download(*, message_id: int, final_attempt: bool = True) -> Message | None:
    """Fetch a message's media from the provider into default storage, under
    `tenants/<tenant_id>/media/<yyyy>/<mm>/<uuid>.<ext>`. The message stays visible either way:
    `media_status` becomes `ready` (with mime, size and sha256) or `failed`.

    A retryable provider error (network, 5xx, throttling) is raised again while attempts remain
    (`final_attempt=False`), the message staying `pending` for the caller's retry; a permanent one
    (gone or expired media) or the last attempt's marks it `failed` with the provider's code."""
    from whatsapp.providers import ProviderError, get_adapter

    message = Message.objects.select_related("connection", "ticket").filter(pk=message_id).first()
    if message is None or message.media_status != Message.MediaStatus.PENDING or not message.media_ref:
        return None
    try:
        media = get_adapter(message.connection).download_media(message.media_ref)
    except ProviderError as exc:
        will_retry = exc.retryable and not final_attempt
        logger.warning(
            "media download failed",
            extra={
                "message_id": message.pk,
                "provider_code": exc.code,
                "retryable": exc.retryable,
                "will_retry": will_retry,
            },
        )
        if will_retry:
            raise
        message.media_status = Message.MediaStatus.FAILED
        message.payload = {**(message.payload or {}), "media_error": exc.code}
        message.save(update_fields=["media_status", "payload", "updated_at"])
        events.message_updated(message)
        _media_settled(message)
        return message

    mime_type = (media.mime_type or message.media_mime).split(";")[0].strip() or "application/octet-stream"
    now = timezone.now()
    ext = _extension(mime_type, message.media_filename or media.filename)
    path = f"tenants/{message.tenant_id}/media/{now:%Y}/{now:%m}/{uuid.uuid4().hex}{ext}"
    message.media_file.name = default_storage.save(path, ContentFile(media.content))
    message.media_mime = (media.mime_type or message.media_mime)[:120]
    message.media_size = len(media.content)
    message.media_sha256 = hashlib.sha256(media.content).hexdigest()
    if not message.media_filename and media.filename:
        message.media_filename = media.filename[:255]
    message.media_status = Message.MediaStatus.READY
    message.payload = {key: value for key, value in (message.payload or {}).items() if key != "media_error"}
    message.save(
        update_fields=[
            "media_file",
            "media_mime",
            "media_size",
            "media_sha256",
            "media_filename",
            "media_status",
            "payload",
            "updated_at",
        ]  # fmt: skip
    )
    events.message_updated(message)
    _media_settled(message)
    return message


def _media_settled(message: Message) -> None:
    """A customer's voice note is downloaded (or never will be): the AI transcribes it when the
    tenant asks for it, and a bot holding the ticket learns it can read it or not."""
    from ai.services import voice_note_downloaded

    voice_note_downloaded(message=message)


def message_media_retry(*, message: Message) -> Message:
    """Try a failed media download again (an agent's or administrator's request): the message goes
    back to `pending` and a fresh download, with its own retries, starts after commit."""
    from tickets.exceptions import MediaNotFailed

    with transaction.atomic():
        locked = Message.objects.select_for_update(of=("self",)).select_related("ticket").get(pk=message.pk)
        if locked.media_status != Message.MediaStatus.FAILED or not locked.media_ref:
            raise MediaNotFailed()
        locked.media_status = Message.MediaStatus.PENDING
        locked.payload = {key: value for key, value in (locked.payload or {}).items() if key != "media_error"}
        locked.save(update_fields=["media_status", "payload", "updated_at"])
        events.message_updated(locked)
        _schedule_media_download(locked)
    return locked
