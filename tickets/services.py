"""Writes of the conversation domain: ticket actions, sending, scheduled messages, auto-close.

Every action runs in one transaction, records a `TicketEvent` with its actor, and announces the
change to the real-time layer after commit (tickets.events). Sending never calls WhatsApp inside a
request: `message_send` stores the message as pending and enqueues `deliver_message_task`.
"""

from __future__ import annotations

import logging
import mimetypes
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from accounts.models import Membership, User
from config.errors import NotFound
from crm.models import Tag
from tickets import events, selectors
from tickets.exceptions import (
    EmptyMessage,
    MediaTooLarge,
    MediaTypeNotAllowed,
    NotAMember,
    ScheduledMessageNotCancellable,
    SendAtInPast,
    TicketActiveExists,
    TicketAlreadyTaken,
    TicketClosed,
    TransferTargetRequired,
    WhatsAppWindowClosed,
)
from tickets.models import Message, Queue, QuickReply, ScheduledMessage, Ticket, TicketEvent
from tickets.templating import render, template_variables
from whatsapp.choices import DeliveryStatus, MessageType, Provider
from whatsapp.providers import ProviderError, get_adapter

logger = logging.getLogger(__name__)

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
PREVIEW_LENGTH = 200

# What WhatsApp (Cloud API) accepts, by MIME type, and how large each kind may be.
MEDIA_TYPES = {
    "image/jpeg": MessageType.IMAGE,
    "image/png": MessageType.IMAGE,
    "video/mp4": MessageType.VIDEO,
    "video/3gpp": MessageType.VIDEO,
    "audio/aac": MessageType.AUDIO,
    "audio/amr": MessageType.AUDIO,
    "audio/mpeg": MessageType.AUDIO,
    "audio/mp4": MessageType.AUDIO,
    "audio/ogg": MessageType.AUDIO,
    "text/plain": MessageType.DOCUMENT,
    "application/pdf": MessageType.DOCUMENT,
    "application/msword": MessageType.DOCUMENT,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": MessageType.DOCUMENT,
    "application/vnd.ms-excel": MessageType.DOCUMENT,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": MessageType.DOCUMENT,
    "application/vnd.ms-powerpoint": MessageType.DOCUMENT,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": MessageType.DOCUMENT,
}
MEDIA_MAX_BYTES = {
    MessageType.IMAGE: 5 * 1024 * 1024,
    MessageType.VIDEO: 16 * 1024 * 1024,
    MessageType.AUDIO: 16 * 1024 * 1024,
    MessageType.DOCUMENT: 100 * 1024 * 1024,
}


# --- helpers ---------------------------------------------------------------------------


def _ensure_can_act(*, ticket: Ticket, user: User | None) -> None:
    """`user` None is the system (beat jobs). A ticket the user cannot see is a 404 for them."""
    if user is None:
        return
    role = selectors.role_of(user=user)
    if not selectors.ticket_is_visible(ticket=ticket, user=user, role=role):
        raise NotFound()


def _locked(ticket: Ticket) -> Ticket:
    """The ticket's row, locked until the end of the transaction, with what events need."""
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("contact", "queue", "assignee", "connection")
        .get(pk=ticket.pk)
    )


def _record(ticket: Ticket, type_: str, actor: User | None, **data) -> TicketEvent:
    return TicketEvent.objects.create(ticket=ticket, type=type_, actor=actor, data=data)


def _active_member(user_id) -> User:
    membership = Membership.objects.filter(user_id=user_id, is_active=True).select_related("user").first()
    if membership is None:
        raise NotAMember(fields={"to_user": [str(NotAMember.default_detail)]})
    return membership.user


def _offer_waiting_tickets(tenant_id: int) -> None:
    """After a change that frees an agent or queues a ticket, auto-assignment gets another look."""
    from tickets.tasks import waiting_tickets_assign_task

    transaction.on_commit(lambda: waiting_tickets_assign_task.delay(tenant_id=tenant_id))


def _bot_stop(ticket: Ticket) -> None:
    """A person takes the conversation: the flow or AI agent holding it stops (flows.tasks,
    ai.tasks, after commit; the bot's worker checks again under the ticket's lock before sending)."""
    if not ticket.is_bot:
        return
    ticket.is_bot = False
    from ai.tasks import bot_session_stop_task
    from flows.tasks import flow_runs_stop_task

    ticket_id, tenant_id = ticket.pk, ticket.tenant_id
    transaction.on_commit(lambda: flow_runs_stop_task.delay(ticket_id=ticket_id, tenant_id=tenant_id))
    transaction.on_commit(lambda: bot_session_stop_task.delay(ticket_id=ticket_id, tenant_id=tenant_id))


def window_is_open(ticket: Ticket, *, now=None) -> bool:
    """The Cloud API's customer-service window: 24 hours from the customer's latest message.
    Evolution (a phone session) has none."""
    if ticket.connection.provider != Provider.CLOUD:
        return True
    if ticket.last_inbound_at is None:
        return False
    return (now or timezone.now()) - ticket.last_inbound_at <= CUSTOMER_SERVICE_WINDOW


# --- ticket actions --------------------------------------------------------------------


def ticket_accept(*, ticket: Ticket, actor: User) -> Ticket:
    """pending → open, assigned to `actor`. Someone else got there first → 409 ticket_already_taken."""
    with transaction.atomic():
        locked = _locked(ticket)
        if locked.status == Ticket.Status.OPEN and locked.assignee_id == actor.pk:
            return locked
        if locked.status == Ticket.Status.OPEN:
            raise TicketAlreadyTaken()
        if locked.status == Ticket.Status.CLOSED:
            raise TicketClosed()
        _ensure_can_act(ticket=locked, user=actor)
        before = events.ticket_audience(locked)
        locked.status = Ticket.Status.OPEN
        locked.assignee = actor
        _bot_stop(locked)
        locked.save(update_fields=["status", "assignee", "is_bot", "updated_at"])
        _record(locked, TicketEvent.Type.ACCEPTED, actor)
        events.ticket_updated(locked, previous_audience=before)
    return locked


def ticket_transfer(
    *,
    ticket: Ticket,
    actor: User | None,
    to_user: User | None = None,
    to_queue: Queue | None = None,
    note: str = "",
) -> Ticket:
    """To a user: open and assigned to them (in `to_queue` when given). To a queue only: pending in
    that queue, unassigned, waiting for one of its members."""
    if to_user is None and to_queue is None:
        raise TransferTargetRequired()
    with transaction.atomic():
        locked = _locked(ticket)
        _ensure_can_act(ticket=locked, user=actor)
        if locked.status == Ticket.Status.CLOSED:
            raise TicketClosed()
        if to_user is not None:
            to_user = _active_member(to_user.pk)
        before = events.ticket_audience(locked)
        data = {
            "from_user": locked.assignee_id,
            "from_queue": locked.queue_id,
            "to_user": to_user.pk if to_user else None,
            "to_queue": to_queue.pk if to_queue else None,
            "note": note,
        }
        if to_queue is not None:
            locked.queue = to_queue
        if to_user is not None:
            locked.status = Ticket.Status.OPEN
            locked.assignee = to_user
        else:
            locked.status = Ticket.Status.PENDING
            locked.assignee = None
        _bot_stop(locked)
        locked.save(update_fields=["status", "assignee", "queue", "is_bot", "updated_at"])
        _record(locked, TicketEvent.Type.TRANSFERRED, actor, **data)
        events.ticket_updated(locked, previous_audience=before)
        if to_user is None:
            _offer_waiting_tickets(locked.tenant_id)
    return locked


def ticket_close(*, ticket: Ticket, actor: User | None, send_farewell: bool = True, reason: str = "") -> Ticket:
    """Closes the ticket; sends the connection's farewell message and, when the tenant asks for
    ratings, the rating request (both only while WhatsApp lets us write to the customer)."""
    with transaction.atomic():
        locked = _locked(ticket)
        _ensure_can_act(ticket=locked, user=actor)
        if locked.status == Ticket.Status.CLOSED:
            return locked
        before = events.ticket_audience(locked)
        can_write = window_is_open(locked)
        sent = []
        farewell = locked.connection.farewell_message.strip()
        if send_farewell and farewell and can_write:
            text = render(farewell, template_variables(ticket=locked, agent=actor))
            _outbound_create(ticket=locked, author=actor, sender_type=Message.SenderType.SYSTEM, text=text)
            sent.append("farewell")
        tenant = locked.tenant
        if tenant.rating_enabled and can_write:
            with translation.override(tenant.language):
                prompt = _("How would you rate our service? Reply with a number from 1 (bad) to 5 (excellent).")
            _outbound_create(ticket=locked, author=actor, sender_type=Message.SenderType.SYSTEM, text=prompt)
            locked.awaiting_rating = True
            sent.append("rating_request")
        locked.status = Ticket.Status.CLOSED
        locked.closed_at = timezone.now()
        locked.unread_count = 0
        _bot_stop(locked)
        locked.save(update_fields=["status", "closed_at", "unread_count", "awaiting_rating", "is_bot", "updated_at"])
        _record(locked, TicketEvent.Type.CLOSED, actor, sent=sent, reason=reason)
        events.ticket_updated(locked, previous_audience=before)
        if locked.assignee_id:
            _offer_waiting_tickets(locked.tenant_id)
    return locked


def ticket_reopen(*, ticket: Ticket, actor: User) -> Ticket:
    """closed → open, assigned to `actor`. A ticket that is not closed is returned unchanged."""
    try:
        with transaction.atomic():
            locked = _locked(ticket)
            _ensure_can_act(ticket=locked, user=actor)
            if locked.status != Ticket.Status.CLOSED:
                return locked
            before = events.ticket_audience(locked)
            locked.status = Ticket.Status.OPEN
            locked.assignee = actor
            locked.closed_at = None
            locked.awaiting_rating = False
            locked.save(update_fields=["status", "assignee", "closed_at", "awaiting_rating", "updated_at"])
            _record(locked, TicketEvent.Type.REOPENED, actor)
            events.ticket_updated(locked, previous_audience=before)
    except IntegrityError:  # the contact wrote again meanwhile: a new ticket holds the conversation
        raise TicketActiveExists() from None
    return locked


def ticket_mark_read(*, ticket: Ticket, actor: User) -> Ticket:
    """unread_count → 0; WhatsApp is told (blue ticks) by a task, best effort."""
    _ensure_can_act(ticket=ticket, user=actor)
    if ticket.unread_count == 0:
        return ticket
    with transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(unread_count=0, updated_at=timezone.now())
        ticket.unread_count = 0
        events.ticket_updated(ticket)
        from tickets.tasks import ticket_mark_read_task

        transaction.on_commit(lambda: ticket_mark_read_task.delay(ticket_id=ticket.pk, tenant_id=ticket.tenant_id))
    return ticket


def ticket_notify_read(*, ticket_id: int) -> None:
    """Marks the customer's last message as read on WhatsApp. Failures are logged, not raised."""
    ticket = Ticket.objects.select_related("connection", "contact").filter(pk=ticket_id).first()
    if ticket is None:
        return
    message = selectors.last_inbound_message(ticket=ticket)
    if message is None:
        return
    try:
        get_adapter(ticket.connection).mark_read(
            message.provider_message_id, chat_id=ticket.contact.wa_id or ticket.contact.phone
        )
    except (ProviderError, ValueError) as exc:
        logger.info("mark_read failed", extra={"ticket_id": ticket.pk, "error": repr(exc)})


def ticket_set_priority(*, ticket: Ticket, actor: User, priority: str) -> Ticket:
    with transaction.atomic():
        locked = _locked(ticket)
        _ensure_can_act(ticket=locked, user=actor)
        if locked.priority == priority:
            return locked
        previous = locked.priority
        locked.priority = priority
        locked.save(update_fields=["priority", "updated_at"])
        _record(locked, TicketEvent.Type.PRIORITY_CHANGED, actor, **{"from": previous, "to": priority})
        events.ticket_updated(locked)
    return locked


def ticket_tag(*, ticket: Ticket, actor: User, tag: Tag) -> Ticket:
    return ticket_set_tags(ticket=ticket, actor=actor, add=[tag])


def ticket_untag(*, ticket: Ticket, actor: User, tag: Tag) -> Ticket:
    return ticket_set_tags(ticket=ticket, actor=actor, remove=[tag])


def ticket_set_tags(*, ticket: Ticket, actor: User, add=(), remove=()) -> Ticket:
    """Adds and removes tags of the tenant; one event per tag that really changed."""
    with transaction.atomic():
        locked = _locked(ticket)
        _ensure_can_act(ticket=locked, user=actor)
        current = set(locked.tags.values_list("pk", flat=True))
        added = [tag for tag in {t.pk: t for t in add}.values() if tag.pk not in current]
        removed = [tag for tag in {t.pk: t for t in remove}.values() if tag.pk in current]
        if added:
            locked.tags.add(*added)
        if removed:
            locked.tags.remove(*removed)
        for tag in added:
            _record(locked, TicketEvent.Type.TAGGED, actor, tag=tag.pk, name=tag.name)
        for tag in removed:
            _record(locked, TicketEvent.Type.UNTAGGED, actor, tag=tag.pk, name=tag.name)
        if added or removed:
            Ticket.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
            events.ticket_updated(locked)
    return locked


# --- sending ----------------------------------------------------------------------------


def _media_kind(mime_type: str) -> MessageType:
    kind = MEDIA_TYPES.get((mime_type or "").split(";")[0].strip().lower())
    if kind is None:
        raise MediaTypeNotAllowed(fields={"file": [str(MediaTypeNotAllowed.default_detail)]})
    return kind


def _store_media(*, tenant_id: int, upload) -> tuple[str, MessageType, str, int, str]:
    """Checks and saves an uploaded file → (storage name, kind, mime type, size, filename)."""
    mime_type = upload.content_type or mimetypes.guess_type(upload.name)[0] or ""
    kind = _media_kind(mime_type)
    limit = min(MEDIA_MAX_BYTES[kind], settings.WHATSAPP_MEDIA_MAX_BYTES)
    if upload.size > limit:
        raise MediaTooLarge(
            _("The file is larger than WhatsApp accepts for this type (%(mb)s MB).") % {"mb": limit // (1024 * 1024)},
            fields={"file": [str(MediaTooLarge.default_detail)]},
        )
    filename = get_valid_filename(upload.name.rsplit("/", 1)[-1]) or "file"
    name = default_storage.save(f"tenants/{tenant_id}/media/{uuid.uuid4().hex}/{filename}", upload)
    return name, kind, mime_type, upload.size, filename


def _outbound_create(
    *,
    ticket: Ticket,
    author: User | None,
    sender_type: str,
    text: str = "",
    internal_note: bool = False,
    **fields,
) -> Message:
    """Stores an outbound message (pending) on the ticket, updates the ticket's summary and, on
    commit, enqueues its delivery. Internal notes are stored only."""
    now = timezone.now()
    message = Message.objects.create(
        ticket=ticket,
        connection_id=ticket.connection_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=sender_type,
        author=author,
        is_internal_note=internal_note,
        text=text,
        status="" if internal_note else DeliveryStatus.PENDING,
        sent_at=now,
        **fields,
    )
    message.ticket = ticket
    update = ["updated_at"]
    if not internal_note:
        ticket.last_message_at = now
        ticket.last_message_preview = (text or fields.get("media_filename") or "")[:PREVIEW_LENGTH]
        update += ["last_message_at", "last_message_preview"]
        if ticket.first_response_at is None and sender_type == Message.SenderType.AGENT:
            ticket.first_response_at = now
            update.append("first_response_at")
    ticket.save(update_fields=update)
    events.message_created(message)
    if not internal_note:
        from tickets.tasks import deliver_message_task

        message_id, tenant_id = message.pk, message.tenant_id
        transaction.on_commit(lambda: deliver_message_task.delay(message_id=message_id, tenant_id=tenant_id))
    return message


def message_send(
    *,
    ticket: Ticket,
    author: User | None,
    text: str = "",
    media=None,
    media_url: str = "",
    quick_reply: QuickReply | None = None,
    reply_to: Message | None = None,
    template: dict | None = None,
    internal_note: bool = False,
    check_permission: bool = True,
) -> Message:
    """An agent writes on a ticket. `media` is an uploaded file, `media_url` a public link;
    `template` is `{"name", "language", "components"?}` (the only thing allowed outside the Cloud
    API's 24-hour window). `text` of the form `/shortcut` is expanded from the quick reply."""
    if check_permission:
        _ensure_can_act(ticket=ticket, user=author)
    if ticket.status == Ticket.Status.CLOSED:
        raise TicketClosed()
    text = (text or "").strip()
    if quick_reply is None and text.startswith("/") and " " not in text:
        quick_reply = selectors.quick_reply_get_by_shortcut(shortcut=text[1:])
    if quick_reply is not None:
        text = render(quick_reply.text, template_variables(ticket=ticket, agent=author))
        if media is None and not media_url and quick_reply.media_file:
            media = quick_reply.media_file
    if not (text or media or media_url or template):
        raise EmptyMessage()
    if not internal_note and not template and not window_is_open(ticket):
        raise WhatsAppWindowClosed()

    fields: dict = {}
    if reply_to is not None:
        if reply_to.ticket_id != ticket.pk:
            raise NotFound()
        fields.update(quoted=reply_to, quoted_provider_id=reply_to.provider_message_id)
    if template:
        fields.update(payload={"template": template})
        text = text or f"[{template.get('name', '')}]"
    elif media is not None and hasattr(media, "content_type"):
        name, kind, mime_type, size, filename = _store_media(tenant_id=ticket.tenant_id, upload=media)
        fields.update(
            type=kind,
            media_file=name,
            media_mime=mime_type,
            media_size=size,
            media_filename=filename,
            media_status=Message.MediaStatus.READY,
        )
    elif media is not None:  # a stored file (a quick reply's attachment)
        mime_type = mimetypes.guess_type(media.name)[0] or ""
        fields.update(
            type=_media_kind(mime_type),
            media_file=media.name,
            media_mime=mime_type,
            media_filename=media.name.rsplit("/", 1)[-1],
            media_status=Message.MediaStatus.READY,
        )
    elif media_url:
        fields.update(_media_url_fields(media_url))
    with transaction.atomic():
        message = _outbound_create(
            ticket=ticket,
            author=author,
            sender_type=Message.SenderType.AGENT,
            text=text,
            internal_note=internal_note,
            **fields,
        )
        if ticket.is_bot and not internal_note:
            _bot_release_on_reply(ticket)
        return message


def _bot_release_on_reply(ticket: Ticket) -> None:
    """An agent wrote to the customer on a ticket a bot holds: the bot stops at once (is_bot off;
    a conditional update, so the ticket row is not locked while a bot's worker may hold it)."""
    if Ticket.objects.filter(pk=ticket.pk, is_bot=True).update(is_bot=False, updated_at=timezone.now()):
        _bot_stop(ticket)
        events.ticket_updated(ticket)


def _media_url_fields(media_url: str) -> dict:
    mime_type = mimetypes.guess_type(media_url.split("?", 1)[0])[0] or ""
    return {
        "type": _media_kind(mime_type),
        "media_ref": media_url,
        "media_mime": mime_type,
        "media_filename": media_url.split("?", 1)[0].rsplit("/", 1)[-1],
        "payload": {"media_url": media_url},
    }


def bot_message_send(
    *,
    ticket: Ticket,
    text: str = "",
    media_url: str = "",
    template: dict | None = None,
    interactive: dict | None = None,
    payload: dict | None = None,
) -> Message:
    """A flow's message to the customer (sender `bot`): text, a media link, a template, or
    WhatsApp interactive buttons/list (`interactive`, Cloud API) whose `text` is the numbered
    fallback shown in the inbox. `payload` keeps extra facts on the message (an AI agent's cited
    articles). The same rules as an agent's: closed tickets and the 24-hour window refuse it
    (TicketClosed, WhatsAppWindowClosed)."""
    if ticket.status == Ticket.Status.CLOSED:
        raise TicketClosed()
    text = (text or "").strip()
    if not (text or media_url or template):
        raise EmptyMessage()
    if not template and not window_is_open(ticket):
        raise WhatsAppWindowClosed()
    fields: dict = {}
    if template:
        fields["payload"] = {"template": template}
        text = text or f"[{template.get('name', '')}]"
    elif media_url:
        fields.update(_media_url_fields(media_url))
    elif interactive:
        fields["payload"] = {"interactive": interactive}
    if payload:
        fields["payload"] = {**fields.get("payload", {}), **payload}
    with transaction.atomic():
        return _outbound_create(ticket=ticket, author=None, sender_type=Message.SenderType.BOT, text=text, **fields)


def system_note_add(*, ticket: Ticket, text: str) -> Message:
    """An internal note written by the system (why a bot handed the ticket over): agents see it,
    the customer does not."""
    with transaction.atomic():
        return _outbound_create(
            ticket=ticket, author=None, sender_type=Message.SenderType.SYSTEM, text=text, internal_note=True
        )


def system_message_send(*, ticket: Ticket, text: str) -> Message:
    """An automatic message to the customer (greeting, menu, out-of-hours notice, thanks): sent
    like an agent's, without an author. Callers check the conversation may be written to."""
    with transaction.atomic():
        return _outbound_create(ticket=ticket, author=None, sender_type=Message.SenderType.SYSTEM, text=text)


def _recipient(ticket: Ticket) -> str:
    contact = ticket.contact
    return contact.wa_id or contact.phone


def message_deliver(*, message_id: int) -> Message | None:
    """Hands a pending message to the provider. Raises ProviderError (the task decides on retries);
    returns None when there is nothing to do (already sent, failed or deleted)."""
    message = (
        Message.objects.select_related("ticket__contact", "ticket__connection", "connection", "author")
        .filter(pk=message_id, direction=Message.Direction.OUTBOUND, is_internal_note=False)
        .first()
    )
    if message is None or message.status != DeliveryStatus.PENDING or message.provider_message_id:
        return None
    from django.db.models import F

    Message.objects.filter(pk=message.pk).update(send_attempts=F("send_attempts") + 1)
    adapter = get_adapter(message.connection)
    to = _recipient(message.ticket)
    reply_to = message.quoted_provider_id or None
    template = (message.payload or {}).get("template")
    interactive = (message.payload or {}).get("interactive")
    if template:
        result = adapter.send_template(
            to, template["name"], template.get("language", "pt_BR"), template.get("components") or ()
        )
    elif interactive and hasattr(adapter, "send_interactive"):
        result = adapter.send_interactive(to, interactive)
    elif message.type in (MessageType.TEXT,):
        result = adapter.send_text(to, message.text, reply_to=reply_to)
    elif message.media_file:
        with message.media_file.open("rb") as handle:
            content = handle.read()
        result = adapter.send_media(
            to,
            MessageType(message.type),
            content=content,
            mime_type=message.media_mime,
            caption=message.text,
            filename=message.media_filename,
            reply_to=reply_to,
        )
    else:
        result = adapter.send_media(
            to,
            MessageType(message.type),
            url=message.media_ref,
            mime_type=message.media_mime,
            caption=message.text,
            filename=message.media_filename,
            reply_to=reply_to,
        )
    return message_mark_sent(message_id=message.pk, provider_message_id=result.provider_message_id)


def message_mark_sent(*, message_id: int, provider_message_id: str) -> Message:
    """Stores the provider id; the status becomes `sent` unless a status webhook got further."""
    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",)).select_related("ticket", "author").get(pk=message_id)
        message.provider_message_id = provider_message_id
        update = ["provider_message_id", "updated_at"]
        if DeliveryStatus.advances(message.status or None, DeliveryStatus.SENT):
            message.status = DeliveryStatus.SENT
            update.append("status")
        message.save(update_fields=update)
        events.message_updated(message)
    return message


def message_mark_failed(*, message_id: int, error: ProviderError, attempts: int = 1) -> Message | None:
    """`attempts` > 1: a transient error that outlived every retry (its explanation says "will be
    tried again", so the detail says that we stopped)."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("ticket", "author")
            .filter(pk=message_id)
            .first()
        )
        if message is None or not DeliveryStatus.advances(message.status or None, DeliveryStatus.FAILED):
            return message
        message.status = DeliveryStatus.FAILED
        message.error_code = str(error.code)[:40]
        message.error_title = (error.title or "")[:200]
        message.error_detail = error.explanation
        if error.retryable:
            message.error_detail = _("WhatsApp kept refusing the message; gave up after %(n)d attempts. %(why)s") % {
                "n": attempts,
                "why": error.explanation,
            }
        message.save(update_fields=["status", "error_code", "error_title", "error_detail", "updated_at"])
        events.message_updated(message)
    logger.warning("message delivery failed", extra={"message_id": message_id, "code": error.code})
    return message


# --- scheduled messages -------------------------------------------------------------------


def scheduled_message_create(*, ticket: Ticket, author: User, text: str, send_at) -> ScheduledMessage:
    _ensure_can_act(ticket=ticket, user=author)
    if send_at <= timezone.now():
        raise SendAtInPast(fields={"send_at": [str(SendAtInPast.default_detail)]})
    text = text.strip()
    if not text:
        raise EmptyMessage(fields={"text": [str(EmptyMessage.default_detail)]})
    return ScheduledMessage.objects.create(ticket=ticket, text=text, send_at=send_at, created_by=author)


def scheduled_message_cancel(*, scheduled: ScheduledMessage, actor: User) -> ScheduledMessage:
    with transaction.atomic():
        locked = ScheduledMessage.objects.select_for_update().get(pk=scheduled.pk)
        if locked.status != ScheduledMessage.Status.SCHEDULED:
            raise ScheduledMessageNotCancellable()
        locked.status = ScheduledMessage.Status.CANCELLED
        locked.save(update_fields=["status"])
    scheduled.status = locked.status
    return scheduled


def scheduled_messages_send_due(*, now=None) -> int:
    """Sends every due scheduled message of the current tenant exactly once: each row is claimed
    under a lock (others skip it) and leaves `scheduled` in the same transaction as its message."""
    now = now or timezone.now()
    sent = 0
    while True:
        with transaction.atomic():
            scheduled = (
                ScheduledMessage.objects.select_for_update(skip_locked=True)
                .filter(status=ScheduledMessage.Status.SCHEDULED, send_at__lte=now)
                .order_by("send_at", "id")
                .first()
            )
            if scheduled is None:
                return sent
            ticket = Ticket.objects.select_related("contact", "connection", "queue", "assignee").get(
                pk=scheduled.ticket_id
            )
            try:
                with transaction.atomic():
                    message = message_send(
                        ticket=ticket, author=scheduled.created_by, text=scheduled.text, check_permission=False
                    )
            except (WhatsAppWindowClosed, TicketClosed, EmptyMessage) as exc:
                scheduled.status = ScheduledMessage.Status.FAILED
                scheduled.error = str(exc.detail)
                scheduled.save(update_fields=["status", "error"])
                continue
            scheduled.status = ScheduledMessage.Status.SENT
            scheduled.message = message
            scheduled.save(update_fields=["status", "message"])
            sent += 1


# --- auto-close -----------------------------------------------------------------------------


def tickets_close_idle(*, tenant, now=None) -> int:
    """Closes the tenant's tickets without a message for `tenant.auto_close_after_hours` (0 = never)."""
    hours = tenant.auto_close_after_hours
    if not hours:
        return 0
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    idle = Ticket.objects.filter(
        status__in=[Ticket.Status.PENDING, Ticket.Status.OPEN], last_message_at__lt=cutoff
    ).values_list("pk", flat=True)
    closed = 0
    for ticket_id in list(idle):
        ticket = Ticket.objects.get(pk=ticket_id)
        ticket_close(ticket=ticket, actor=None, reason="idle")
        closed += 1
    return closed


# --- queues and quick replies ------------------------------------------------------------------


def queue_save(*, queue: Queue, members=None) -> Queue:
    with transaction.atomic():
        queue.save()
        if members is not None:
            queue.members.set(members)
    return queue


def queue_delete(*, queue: Queue) -> None:
    queue.delete()


def quick_reply_save(*, quick_reply: QuickReply) -> QuickReply:
    quick_reply.save()
    return quick_reply


def quick_reply_delete(*, quick_reply: QuickReply) -> None:
    quick_reply.delete()
