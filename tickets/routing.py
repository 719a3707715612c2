"""Conversation routing: what happens when a customer writes, before any agent does anything.

In order, for each new message from the customer (tickets.inbound calls `route_inbound_message`
inside the message's transaction, with the ticket row locked):

1. A reply to a rating request on a closed ticket is recorded as the rating and thanked
   (`closed_ticket_claim` decides that, and the reopen window, before any ticket is opened).
   A ticket an AI agent holds (`is_bot`, ai.services.bot_session_continue) goes to the agent; a
   ticket a flow holds (`is_bot`), or whose message triggers a flow, goes to the flow engine
   (flows.services.flow_route_inbound). Then a new ticket no flow took goes to the active AI agent
   answering new tickets of its connection/queue, when its business-hours behaviour says so
   (ai.services.bot_session_start). In these cases nothing below happens: as in Chatwoot's agent
   bots, the bot is the first to answer, in place of the out-of-hours message, greeting and queue
   menu; when it hands over (to its handoff queue, else the ticket's or connection's default
   queue), people take the ticket from there and the customer's next messages are routed here
   normally. Flows come first: a flow that triggers decides itself whether to call an AI agent.
   Bots answer after commit, in a worker (the provider call never runs in this transaction).
2. Outside business hours (the queue's, else the tenant's) the connection's out-of-hours message
   is sent, once per ticket.
3. A new ticket gets the connection's greeting. Without a queue it goes to the connection's default
   queue, the tenant's only queue, or — with several — the customer picks one from a numbered
   menu; three invalid answers fall back to the default (or first) queue.
4. A waiting ticket in a queue with auto-assignment goes to an online member under the queue's
   cap: round-robin or least busy.

Automatic messages are ordinary outbound messages (sender `system`), delivered by the same task.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Membership
from ai.services import bot_session_continue, bot_session_start
from campaigns.services import campaign_reply_apply
from config import sql
from crm.models import Contact
from flows.services import flow_route_inbound, flow_route_queue_chosen
from tenants.hours import is_open
from tickets import events, presence
from tickets.models import Message, Queue, Ticket, TicketEvent
from tickets.templating import render, template_variables
from whatsapp.models import Connection

logger = logging.getLogger("tickets.routing")

MENU_MAX_INVALID_ANSWERS = 3
_RATING = re.compile(r"^\D*([1-5])\D*$")
_MENU_CHOICE = re.compile(r"^\s*(\d{1,3})\b")


def rating_from_text(text: str) -> int | None:
    """A reply like "5", "nota 4!" or "3 ⭐" is a rating; "10", "1 2" or words alone are not."""
    match = _RATING.match(text or "")
    return int(match.group(1)) if match else None


# --- before a ticket is opened ------------------------------------------------------------------


def closed_ticket_claim(*, connection: Connection, contact: Contact, text: str) -> Ticket | None:
    """The closed ticket that takes this customer message instead of a new ticket, or None.

    The contact's latest closed ticket on this connection takes it when it is waiting for a rating
    and the message is one (the ticket stays closed), or when it was closed less than the tenant's
    `reopen_window_minutes` ago (it is reopened: back to its agent if they are still a member,
    else waiting in its queue). Called with the contact row locked.
    """
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("queue", "assignee")
        .filter(contact=contact, connection=connection, status=Ticket.Status.CLOSED)
        .order_by("-closed_at", "-id")
        .first()
    )
    if ticket is None:
        return None
    if ticket.awaiting_rating:
        ticket.awaiting_rating = False
        rating = rating_from_text(text)
        if rating is not None:
            ticket.rating = rating
            ticket.save(update_fields=["rating", "awaiting_rating", "updated_at"])
            _record(ticket, TicketEvent.Type.RATED, rating=rating)
            return ticket
        ticket.save(update_fields=["awaiting_rating", "updated_at"])
    window = connection.tenant.reopen_window_minutes
    if not window or ticket.closed_at is None or timezone.now() - ticket.closed_at > timedelta(minutes=window):
        return None
    return _reopen_for_customer(ticket)


def _reopen_for_customer(ticket: Ticket) -> Ticket | None:
    before = events.ticket_audience(ticket)
    keeps_agent = (
        ticket.assignee_id is not None
        and Membership.objects.filter(user_id=ticket.assignee_id, is_active=True).exists()
    )
    ticket.status = Ticket.Status.OPEN if keeps_agent else Ticket.Status.PENDING
    if not keeps_agent:
        ticket.assignee = None
    ticket.closed_at = None
    try:
        with transaction.atomic():
            ticket.save(update_fields=["status", "assignee", "closed_at", "awaiting_rating", "updated_at"])
    except IntegrityError:  # an agent started a conversation with them meanwhile: that one takes it
        return None
    _record(ticket, TicketEvent.Type.REOPENED, source="customer")
    ticket._audience_before_routing = before
    return ticket


def _record(ticket: Ticket, type_: str, **data) -> None:
    """A TicketEvent of the customer's doing (no actor). Written by config.sql: routing runs for
    every received message, and the ORM's INSERT cost more to build than to run."""
    sql.insert(TicketEvent(tenant_id=ticket.tenant_id, ticket=ticket, type=type_, data=data))


# --- after the message is stored ------------------------------------------------------------


def route_inbound_message(*, ticket: Ticket, message: Message, ticket_was_created: bool) -> None:
    """Runs once per new customer message, inside its transaction, with the ticket locked."""
    from tickets.services import system_message_send

    if campaign_reply_apply(ticket=ticket, message=message):  # a stop word: opted out and told so
        return

    before = getattr(ticket, "_audience_before_routing", None) or events.ticket_audience(ticket)
    tenant = ticket.tenant
    connection = ticket.connection
    changed = False

    with translation.override(tenant.language):
        if ticket.status == Ticket.Status.CLOSED:  # the customer just rated it
            system_message_send(ticket=ticket, text=_("Thank you for your rating!"))
            return
        if bot_session_continue(ticket=ticket):
            return  # an AI agent holds the conversation (ticket.is_bot): its worker answers
        if flow_route_inbound(ticket=ticket, message=message, ticket_was_created=ticket_was_created):
            return  # a flow holds the conversation (ticket.is_bot) or a trigger just started one
        if bot_session_start(ticket=ticket, message=message, ticket_was_created=ticket_was_created):
            return  # an AI agent answers this new ticket first

        if not ticket.out_of_hours_notified and connection.out_of_hours_message.strip():
            hours_of = ticket.queue or connection.default_queue
            schedule = (hours_of.business_hours if hours_of else None) or tenant.business_hours
            if not is_open(schedule, tenant.timezone, message.sent_at):
                system_message_send(ticket=ticket, text=_render(connection.out_of_hours_message, ticket))
                ticket.out_of_hours_notified = True
                changed = True

        if ticket.status == Ticket.Status.PENDING and ticket.assignee_id is None and ticket.queue_id is None:
            changed |= _choose_queue(ticket=ticket, message=message, ticket_was_created=ticket_was_created)
            if ticket.queue_id is not None and getattr(ticket, "_queue_chosen_how", "") == "menu":
                flow_route_queue_chosen(ticket=ticket, message=message)  # sets is_bot when a flow starts
        elif ticket_was_created:
            _greet(ticket)

        if (
            not ticket.is_bot
            and ticket.status == Ticket.Status.PENDING
            and ticket.assignee_id is None
            and ticket.queue is not None
            and ticket.queue.auto_assignment != Queue.AutoAssignment.OFF
        ):
            changed |= auto_assign(ticket=ticket)

    if changed:
        sql.update(ticket, ["queue", "status", "assignee", "menu_attempts", "out_of_hours_notified", "updated_at"])
        events.ticket_updated(ticket, previous_audience=before)


def _render(text: str, ticket: Ticket) -> str:
    return render(text.strip(), template_variables(ticket=ticket, agent=None))


def _greet(ticket: Ticket, *, extra: str = "") -> None:
    from tickets.services import system_message_send

    parts = [_render(ticket.connection.greeting_message, ticket)] if ticket.connection.greeting_message.strip() else []
    if extra:
        parts.append(extra)
    if parts:
        system_message_send(ticket=ticket, text="\n\n".join(parts))


def _menu_text(queues: list[Queue]) -> str:
    lines = [_("Please reply with the number of the option you want:")]
    lines += [f"*{number}* - {queue.name}" for number, queue in enumerate(queues, start=1)]
    return "\n".join(lines)


def _menu_choice(text: str, queues: list[Queue]) -> Queue | None:
    match = _MENU_CHOICE.match(text or "")
    if match:
        number = int(match.group(1))
        return queues[number - 1] if 1 <= number <= len(queues) else None
    wanted = (text or "").strip().casefold()
    return next((queue for queue in queues if queue.name.casefold() == wanted), None)


def _queue_set(ticket: Ticket, queue: Queue, *, how: str) -> None:
    from tickets.services import system_message_send

    ticket.queue = queue
    ticket._queue_chosen_how = how
    _record(ticket, TicketEvent.Type.QUEUE_CHOSEN, queue=queue.pk, how=how)
    if queue.greeting_message.strip():
        system_message_send(ticket=ticket, text=_render(queue.greeting_message, ticket))


def _choose_queue(*, ticket: Ticket, message: Message, ticket_was_created: bool) -> bool:
    """Puts a queueless waiting ticket in a queue, by default or by the customer's menu answer.
    Returns whether the ticket changed."""
    from tickets.services import system_message_send

    default_queue = ticket.connection.default_queue
    queues = [] if default_queue else list(Queue.objects.order_by("menu_order", "name")[:100])
    if default_queue or len(queues) == 1:
        if ticket_was_created:
            _greet(ticket)
        _queue_set(ticket, default_queue or queues[0], how="default")
        return True
    if not queues:  # no queues: the ticket waits for any agent
        if ticket_was_created:
            _greet(ticket)
        return False

    if ticket.menu_attempts == 0:  # the first message: greet and ask
        _greet(ticket, extra=_menu_text(queues))
        ticket.menu_attempts = 1
        return True
    chosen = _menu_choice(message.text, queues)
    if chosen is not None:
        _queue_set(ticket, chosen, how="menu")
        return True
    if ticket.menu_attempts >= MENU_MAX_INVALID_ANSWERS:
        system_message_send(ticket=ticket, text=_("We will forward you to our team. Please wait a moment."))
        _queue_set(ticket, queues[0], how="fallback")
        return True
    ticket.menu_attempts += 1
    system_message_send(ticket=ticket, text=_("Sorry, that is not one of the options.") + "\n" + _menu_text(queues))
    return True


# --- auto-assignment ------------------------------------------------------------------------


def auto_assign(*, ticket: Ticket) -> bool:
    """Assigns a waiting ticket to a member of its queue when the queue says so. Members count
    when they are active in the tenant, online (tickets.presence) and below the queue's cap of open
    tickets. The queue row is locked, so concurrent assignments in one queue take turns. Returns
    whether the ticket was assigned (the caller saves it and announces the change)."""
    queue = Queue.objects.select_for_update().filter(pk=ticket.queue_id).first()
    if queue is None or queue.auto_assignment == Queue.AutoAssignment.OFF:
        return False
    online = presence.online_user_ids(tenant_id=ticket.tenant_id)
    if not online:
        return False
    members = sorted(
        Membership.objects.filter(
            user__in=queue.members.filter(pk__in=online), is_active=True, user__is_active=True
        ).values_list("user_id", flat=True)
    )
    if not members:
        return False
    open_counts = dict(
        Ticket.objects.filter(status=Ticket.Status.OPEN, assignee_id__in=members)
        .values("assignee_id")
        .annotate(count=Count("id"))
        .values_list("assignee_id", "count")
    )
    if queue.max_open_per_agent:
        members = [user_id for user_id in members if open_counts.get(user_id, 0) < queue.max_open_per_agent]
    if not members:
        return False

    # Round-robin order: the members after the one who got the latest ticket, then from the start.
    last = queue.last_assigned_user_id or 0
    in_turn = [user_id for user_id in members if user_id > last] + [user_id for user_id in members if user_id <= last]
    if queue.auto_assignment == Queue.AutoAssignment.LEAST_BUSY:
        in_turn.sort(key=lambda user_id: open_counts.get(user_id, 0))  # stable: ties keep their turn
    chosen = in_turn[0]

    ticket.assignee_id = chosen
    ticket.status = Ticket.Status.OPEN
    queue.last_assigned_user_id = chosen
    queue.save(update_fields=["last_assigned_user"])
    _record(ticket, TicketEvent.Type.AUTO_ASSIGNED, user=chosen, strategy=queue.auto_assignment, queue=queue.pk)
    return True


def waiting_tickets_assign(*, limit: int = 200) -> int:
    """Offers the current tenant's waiting tickets (oldest first) to auto-assignment: run when an
    agent comes online or frees a slot. Returns how many were assigned."""
    waiting = list(
        Ticket.objects.filter(
            status=Ticket.Status.PENDING,
            assignee__isnull=True,
            is_bot=False,
            queue__auto_assignment__in=[Queue.AutoAssignment.ROUND_ROBIN, Queue.AutoAssignment.LEAST_BUSY],
        )
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    assigned = 0
    full_queues: set[int] = set()
    for ticket_id in waiting:
        with transaction.atomic():
            ticket = (
                Ticket.objects.select_for_update(of=("self",))
                .select_related("queue", "assignee", "contact", "connection")
                .filter(pk=ticket_id, status=Ticket.Status.PENDING, assignee__isnull=True)
                .first()
            )
            if ticket is None or ticket.queue_id in full_queues:
                continue
            before = events.ticket_audience(ticket)
            if not auto_assign(ticket=ticket):
                full_queues.add(ticket.queue_id)
                continue
            ticket.save(update_fields=["status", "assignee", "updated_at"])
            events.ticket_updated(ticket, previous_audience=before)
            assigned += 1
    return assigned
