"""Reads of the conversation domain. Who sees which ticket is decided here, once, for the API, the
inbox and the real-time layer alike.

Agents see the pending tickets of the queues they belong to, pending tickets without a queue, and
the tickets assigned to them (open, or closed after they handled them). Admins and supervisors see
every ticket of the tenant. A ticket someone cannot see does not exist for them (404).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from accounts.models import Membership, Role, User
from config.errors import NotFound
from crm.models import Tag
from tickets.models import Message, Queue, QuickReply, ScheduledMessage, Ticket

STAFF_ROLES = (Role.ADMIN, Role.SUPERVISOR)


def role_of(*, user: User) -> str | None:
    """The user's role in the current tenant (None without an active membership)."""
    return Membership.objects.filter(user=user, is_active=True).values_list("role", flat=True).first()


def ticket_visibility_q(*, user: User, role: str | None) -> Q:
    if role in STAFF_ROLES:
        return Q()
    if role is None:
        return Q(pk__in=[])
    my_queues = Queue.members.through.objects.filter(user_id=user.pk).values("queue_id")
    return (
        Q(status=Ticket.Status.PENDING, queue__isnull=True)
        | Q(status=Ticket.Status.PENDING, queue_id__in=my_queues)
        | Q(status__in=[Ticket.Status.OPEN, Ticket.Status.CLOSED], assignee_id=user.pk)
    )


def ticket_is_visible(*, ticket: Ticket, user: User, role: str | None) -> bool:
    if role in STAFF_ROLES:
        return True
    if role is None:
        return False
    if ticket.status == Ticket.Status.PENDING:
        if ticket.queue_id is None:
            return True
        return Queue.members.through.objects.filter(user_id=user.pk, queue_id=ticket.queue_id).exists()
    return ticket.assignee_id == user.pk


def ticket_list_for_user(*, user: User, role: str | None) -> QuerySet[Ticket]:
    """Every ticket the user may see, with what the ticket payload needs (a fixed number of queries)."""
    return (
        Ticket.objects.filter(ticket_visibility_q(user=user, role=role))
        .select_related("contact", "queue", "assignee")
        .prefetch_related(
            Prefetch("tags", queryset=Tag.objects.order_by("name")),
            Prefetch("contact__tags", queryset=Tag.objects.order_by("name")),
        )
        .order_by("-last_message_at", "-id")
    )


def ticket_get_for_user(*, ticket_id, user: User, role: str | None) -> Ticket:
    ticket = ticket_list_for_user(user=user, role=role).filter(pk=ticket_id).first()
    if ticket is None:
        raise NotFound()
    return ticket


def ticket_search_q(text: str) -> Q:
    """Contact name or phone, or the text of any of the ticket's messages."""
    text = text.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    q = Q(contact__name__icontains=text) | Q(contact__profile_name__icontains=text)
    if digits:
        q |= Q(contact__phone__contains=digits)
    in_messages = Message.objects.filter(ticket_id=OuterRef("pk"), text__icontains=text)
    return q | Q(Exists(in_messages))


def message_list_for_ticket(*, ticket: Ticket) -> QuerySet[Message]:
    return Message.objects.filter(ticket=ticket).select_related("author", "ticket")


def last_inbound_message(*, ticket: Ticket) -> Message | None:
    return (
        Message.objects.filter(ticket=ticket, direction=Message.Direction.INBOUND)
        .exclude(provider_message_id="")
        .order_by("-sent_at", "-id")
        .first()
    )


def queue_list() -> QuerySet[Queue]:
    return Queue.objects.prefetch_related("members").order_by("menu_order", "name")


def quick_reply_list() -> QuerySet[QuickReply]:
    return QuickReply.objects.order_by("shortcut")


def quick_reply_get_by_shortcut(*, shortcut: str) -> QuickReply | None:
    return QuickReply.objects.filter(shortcut=shortcut).first()


def scheduled_message_list_for_user(*, user: User, role: str | None) -> QuerySet[ScheduledMessage]:
    visible = Ticket.objects.filter(ticket_visibility_q(user=user, role=role)).values("pk")
    return (
        ScheduledMessage.objects.filter(Q(ticket_id__in=visible) | Q(created_by_id=user.pk))
        .select_related("created_by")
        .order_by("send_at", "id")
    )
