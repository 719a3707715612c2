"""Writes of the flows domain: flows and versions (publish, rollback), runs on tickets, the sandbox.

Runtime, in order:
1. `flow_route_inbound` (called by tickets.routing inside the inbound transaction, ticket locked):
   a ticket with an active run gets `flow_run_advance_task` after commit; otherwise a matching
   trigger starts a run (ticket `is_bot`), and the greeting/queue menu do not run.
2. `flow_run_advance` (the task) locks the run row (`select_for_update`), consumes the ticket's
   customer messages after `last_message_id` in id order — so each is processed exactly once, by
   whichever worker holds the lock first — fires a due timer, saves the run and applies what the
   nodes did (messages, tags, handoff…) through tickets/crm services, in one transaction.
3. Timers: a wait node stores `wait_until` and schedules the task at that time; the beat job
   `flows.tick` resumes every due run anyway, so a restart or a lost task delays but never loses one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import Exists, F, Max, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from config import sql
from config.batch import batch_memoized
from config.errors import ProsaError
from crm.models import Contact
from flows import selectors
from flows.engine import Effects, Engine, Inbound
from flows.exceptions import FlowInvalid
from flows.models import Flow, FlowRun, FlowTrace
from tenants.hours import is_open
from tickets.models import Message, Queue, Ticket
from tickets.selectors import customer_messages_after

logger = logging.getLogger("flows")

MESSAGES_PER_ADVANCE = 20

# --- effects on a real ticket -------------------------------------------------------------------------


class TicketEffects(Effects):
    """Applies a run's actions to its ticket. The actions are kept in order and applied by `flush`
    at the end of the event, so the ticket row is locked only briefly (not during an HTTP node);
    `contact` and `tags` are kept current for the nodes that read them meanwhile."""

    def __init__(self, *, run: FlowRun, ticket: Ticket):
        from tickets.services import window_is_open

        self.run, self.ticket = run, ticket
        contact = ticket.contact
        self.contact = {
            "name": contact.name or contact.profile_name,
            "phone": contact.phone,
            "email": contact.email,
            "fields": dict(contact.custom_fields or {}),
        }
        self.tags = {name.lower() for name in contact.tags.values_list("name", flat=True)} | {
            name.lower() for name in ticket.tags.values_list("name", flat=True)
        }
        self.ticket_info = {"protocol": ticket.protocol, "queue": ticket.queue.name if ticket.queue else ""}
        self.supports_interactive = ticket.connection.provider == "cloud"
        self._window_open = window_is_open(ticket)
        self.actions: list[tuple[str, dict]] = []
        self.traces: list[FlowTrace] = []
        self.timer_at: datetime | None = None
        self.released = False
        self.announced = False

    def send(self, **content):
        self.actions.append(("send", content))

    def can_send_freeform(self) -> bool:
        return self._window_open

    def contact_set(self, *, target, name, value):
        self.actions.append(("contact_set", {"target": target, "name": name, "value": value}))

    def tag(self, *, name, add):
        self.actions.append(("tag", {"name": name, "add": add}))

    def handoff(self, *, queue_id, user_id):
        self.actions.append(("handoff", {"queue_id": queue_id, "user_id": user_id}))

    def ai_reply(self, *, agent_id, text):
        """Decides now (the provider call, outside the ticket's lock); the answer is sent, or the
        ticket handed over, by `flush` with the other actions."""
        from ai import selectors as ai_selectors
        from ai import services as ai_services

        agent = ai_selectors.ai_agent_for(
            agent_id=agent_id, connection_id=self.ticket.connection_id, queue_id=self.ticket.queue_id
        )
        if agent is None:
            return None
        outcome = ai_services.bot_decide(ticket=self.ticket, agent=agent, customer_text=text)
        self.actions.append(("ai_outcome", {"agent": agent, "outcome": outcome}))
        return {
            "agent_id": agent.pk,
            "answered": outcome.answered,
            "articles": outcome.article_ids,
            "reason": outcome.reason,
            "detail": outcome.detail,
        }

    def close(self, *, send_farewell):
        self.actions.append(("close", {"send_farewell": send_farewell}))

    def release(self):
        self.released = True

    def schedule_timer(self, *, at):
        self.timer_at = at

    def business_hours_open(self, *, at):
        ticket = self.ticket
        hours_of = ticket.queue or ticket.connection.default_queue
        schedule = (hours_of.business_hours if hours_of else None) or ticket.tenant.business_hours
        return is_open(schedule, ticket.tenant.timezone, at)

    def flow_version(self, *, flow_id):
        return selectors.flow_published_version(flow_id=flow_id)

    def trace(self, **fields):
        self.traces.append(FlowTrace(tenant_id=self.run.tenant_id, run=self.run, **fields))

    def _error(self, action: str, exc: Exception) -> None:
        detail = str(getattr(exc, "detail", exc))
        self.traces.append(
            FlowTrace(
                tenant_id=self.run.tenant_id,
                run=self.run,
                node_id=self.run.current_node[:64],
                node_type=action,
                output={"error": getattr(exc, "code", type(exc).__name__), "detail": detail[:300]},
            )
        )

    def flush(self) -> None:
        """Applies the actions (inside the caller's transaction), then stores the traces."""
        from tickets import events
        from tickets import services as ticket_services

        ticket = self.ticket
        for action, args in self.actions:
            try:
                with transaction.atomic():
                    if action == "send":
                        ticket_services.bot_message_send(ticket=ticket, **args)
                    elif action == "contact_set":
                        _contact_set(contact=ticket.contact, **args)
                    elif action == "tag":
                        _contact_tag(contact=ticket.contact, **args)
                    elif action == "handoff":
                        self._release_ticket()
                        self.announced = _handoff(ticket=ticket, **args)
                    elif action == "ai_outcome":
                        from ai.services import bot_outcome_apply

                        outcome = bot_outcome_apply(ticket=ticket, **args)
                        if outcome.handed_over:
                            self.announced = True
                    elif action == "close":
                        self._release_ticket()
                        ticket_services.ticket_close(ticket=ticket, actor=None, send_farewell=args["send_farewell"])
                        self.announced = True
            except ProsaError as exc:
                logger.info("flow action refused", extra={"run_id": self.run.pk, "action": action, "code": exc.code})
                self._error(action, exc)
        if self.released:
            self._release_ticket()
            if not self.announced:  # a transfer or close announced the ticket as it is now
                events.ticket_updated(ticket)
        FlowTrace.objects.bulk_create(self.traces)
        if self.timer_at is not None:
            from flows.tasks import flow_run_advance_task

            run_id, tenant_id, at = self.run.pk, self.run.tenant_id, self.timer_at
            transaction.on_commit(
                lambda: flow_run_advance_task.apply_async(kwargs={"run_id": run_id, "tenant_id": tenant_id}, eta=at)
            )

    def _release_ticket(self) -> None:
        if self.ticket.is_bot:
            Ticket.objects.filter(pk=self.ticket.pk).update(is_bot=False, updated_at=timezone.now())
            self.ticket.is_bot = False


def _contact_set(*, contact: Contact, target: str, name: str, value: Any) -> None:
    from crm.services import contact_update

    if target == "contact":
        if name not in ("name", "email"):
            raise FlowInvalid(_("Only the contact's name and e-mail can be set."))
        contact_update(contact=contact, **{name: "" if value is None else str(value)})
    else:
        contact_update(contact=contact, custom_fields={**(contact.custom_fields or {}), name: value})


def _contact_tag(*, contact: Contact, name: str, add: bool) -> None:
    from crm.services import tags_resolve

    tags = tags_resolve(tenant=contact.tenant, refs=[name]) if add else contact.tags.filter(name__iexact=name)
    if add:
        contact.tags.add(*tags)
    else:
        contact.tags.remove(*tags)


def _handoff(*, ticket: Ticket, queue_id: int | None, user_id: int | None) -> bool:
    """Transfers the ticket to the queue and/or person (else its queue, else the connection's
    default queue). Returns whether a transfer happened (and announced the ticket)."""
    from tickets.services import ticket_transfer

    queue = Queue.objects.filter(pk=queue_id).first() if queue_id else None
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if queue is None and user is None:
        queue = ticket.queue or ticket.connection.default_queue
    if queue is None and user is None:
        return False  # no queue anywhere: the ticket waits for any agent
    ticket_transfer(ticket=ticket, actor=None, to_queue=queue, to_user=user)
    return True


# --- runs on tickets ---------------------------------------------------------------------------------


def _taken_over(*, run: FlowRun, ticket: Ticket) -> str:
    """Why a person holds the conversation now, or ''."""
    if ticket.status == Ticket.Status.CLOSED:
        return "ticket_closed"
    if not ticket.is_bot:
        return "bot_stopped"
    if Message.objects.filter(
        ticket=ticket, sender_type=Message.SenderType.AGENT, created_at__gte=run.started_at
    ).exists():
        return "agent_replied"
    return ""


def flow_run_advance(*, run_id: int, now: datetime | None = None) -> FlowRun | None:
    """Moves a run forward with everything that happened since it last moved: the customer's new
    messages (each exactly once, in order), then its timer if due. Safe to call any number of
    times from any number of workers."""
    now = now or timezone.now()
    with transaction.atomic():
        run = (
            FlowRun.objects.select_for_update(of=("self",))
            .select_related("flow_version", "flow")
            .filter(pk=run_id)
            .first()
        )
        if run is None or not run.is_active:
            return run
        ticket = Ticket.objects.select_related("contact", "connection__default_queue", "queue", "tenant").get(
            pk=run.ticket_id
        )
        effects = TicketEffects(run=run, ticket=ticket)
        engine = Engine(run=run, effects=effects, now=now)
        new_messages: list[dict] = []
        with translation.override(ticket.tenant.language):
            reason = _taken_over(run=run, ticket=ticket)
            if reason:
                effects.trace(node_id=run.current_node[:64], node_type="takeover", input={}, output={"reason": reason})
                run.status, run.awaiting, run.wait_until, run.ended_at = FlowRun.Status.HANDED_OVER, "", None, now
                effects.release()
            else:
                if run.status == FlowRun.Status.RUNNING and run.step_count == 0:
                    engine.start(text=run.variables.get("last_message", ""))
                new_messages = list(
                    customer_messages_after(ticket=ticket, after_id=run.last_message_id).values(
                        "pk", "text", "payload"
                    )[:MESSAGES_PER_ADVANCE]
                )
                for message in new_messages:
                    run.last_message_id = message["pk"]
                    if not run.is_active:
                        break
                    payload = message["payload"] or {}
                    engine.receive(Inbound(text=message["text"] or "", reply_id=str(payload.get("reply_id") or "")))
                if run.is_active:
                    engine.resume_timer()
        run.save()
        effects.flush()
        if run.is_active and len(new_messages) == MESSAGES_PER_ADVANCE:
            _schedule_advance(run)  # more were waiting: another turn
    return run


def _schedule_advance(run: FlowRun) -> None:
    from flows.tasks import flow_run_advance_task

    run_id, tenant_id = run.pk, run.tenant_id
    transaction.on_commit(lambda: flow_run_advance_task.delay(run_id=run_id, tenant_id=tenant_id))


def flow_run_start(*, flow: Flow, ticket: Ticket, trigger: str, message: Message | None = None) -> FlowRun | None:
    """Starts `flow` (its published version) on a ticket that no run holds; the first steps run in
    the worker after commit. Returns None when the flow is not published or a run holds the ticket."""
    if flow.published_version_id is None:
        return None
    if message is not None:
        consumed = message.pk
    else:  # what the customer wrote before the run started is no answer to its questions
        consumed = Message.objects.filter(ticket=ticket).aggregate(top=Max("pk"))["top"] or 0
    try:
        with transaction.atomic():
            run = FlowRun.objects.create(
                tenant_id=ticket.tenant_id,
                ticket=ticket,
                flow=flow,
                flow_version_id=flow.published_version_id,
                trigger=trigger,
                last_message_id=consumed,
                variables={"last_message": message.text if message else ""},
            )
    except IntegrityError:  # another run holds the ticket
        return None
    if not ticket.is_bot:
        from tickets import events

        Ticket.objects.filter(pk=ticket.pk).update(is_bot=True, updated_at=timezone.now())
        ticket.is_bot = True
        events.ticket_updated(ticket)
    _schedule_advance(run)
    return run


def _keyword_matches(config: dict, text: str) -> bool:
    import re

    text = (text or "").strip()
    mode = config.get("match", "exact")
    for keyword in config.get("keywords") or []:
        keyword = str(keyword)
        if mode == "regex":
            try:
                if re.search(keyword, text, flags=re.IGNORECASE):
                    return True
            except re.error:
                continue
        elif mode == "contains":
            if keyword.strip().casefold() in text.casefold():
                return True
        elif keyword.strip().casefold() == text.casefold():
            return True
    return False


def _in(config: dict, key: str, value) -> bool:
    wanted = config.get(key) or []
    return not wanted or value in wanted


_TRIGGERED_BY_MESSAGES = [Flow.Trigger.KEYWORD.value, Flow.Trigger.NEW_TICKET.value, Flow.Trigger.CAMPAIGN_REPLY.value]


def _flows_triggered_by_messages(tenant_id: int) -> list[Flow]:
    """The tenant's active, published flows a customer message may trigger, in priority order —
    read once per inbound batch (config.batch). Plain SQL (config.sql): it runs for most received
    messages, and building the ORM query cost more than running it (usually to find none)."""
    return batch_memoized(("flows.triggered_by_messages", tenant_id), lambda: _read_flows_triggered(tenant_id))


def _read_flows_triggered(tenant_id: int) -> list[Flow]:
    table = Flow._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {sql.columns(Flow, 'f')} FROM {table} f WHERE f.tenant_id = %s AND f.is_active "  # noqa: S608
            "AND f.published_version_id IS NOT NULL AND f.trigger_type = ANY(%s) ORDER BY f.priority, f.id",
            [tenant_id, _TRIGGERED_BY_MESSAGES],
        )
        return [sql.instance(Flow, row) for row in cursor.fetchall()]


def _matching_flow(*, ticket: Ticket, message: Message, ticket_was_created: bool) -> tuple[Flow, str] | None:
    flows = _flows_triggered_by_messages(ticket.tenant_id)
    if not flows:
        return None
    # Set by campaigns.services.campaign_reply_apply (just before, in this transaction) on the
    # customer's first reply to a campaign message.
    campaign_id = getattr(message, "_first_reply_to_campaign", None)
    queue_id = ticket.queue_id or ticket.connection.default_queue_id
    for flow in flows:
        config = flow.trigger_config or {}
        if not _in(config, "connections", ticket.connection_id):
            continue
        if flow.trigger_type == Flow.Trigger.KEYWORD and _keyword_matches(config, message.text):
            return flow, Flow.Trigger.KEYWORD
        if flow.trigger_type == Flow.Trigger.NEW_TICKET and ticket_was_created and _in(config, "queues", queue_id):
            return flow, Flow.Trigger.NEW_TICKET
        if flow.trigger_type == Flow.Trigger.CAMPAIGN_REPLY and campaign_id and _in(config, "campaigns", campaign_id):
            return flow, Flow.Trigger.CAMPAIGN_REPLY
    return None


def flow_route_inbound(*, ticket: Ticket, message: Message, ticket_was_created: bool) -> bool:
    """tickets.routing asks, for each customer message (ticket row locked): does a flow take it?
    True when a run holds the ticket or a trigger just started one — routing then does nothing
    else with the message. Never locks a run row (the worker locks run → ticket; this path holds
    the ticket), so the two never wait for each other in a circle."""
    # Every run start sets is_bot, and only people clear it while a run is active (which stops the
    # run): a ticket without is_bot has no run to continue, and costs no query to know it.
    active = None
    if ticket.is_bot:
        active = FlowRun.objects.filter(ticket=ticket, status__in=FlowRun.ACTIVE).values_list("pk", flat=True).first()
    if active is not None:
        from flows.tasks import flow_run_advance_task

        tenant_id = ticket.tenant_id
        transaction.on_commit(lambda: flow_run_advance_task.delay(run_id=active, tenant_id=tenant_id))
        return True
    if ticket.is_bot:  # left over from a run that ended without releasing it
        Ticket.objects.filter(pk=ticket.pk).update(is_bot=False)
        ticket.is_bot = False
    if ticket.assignee_id is not None or ticket.status != Ticket.Status.PENDING:
        return False  # a person holds the conversation
    matched = _matching_flow(ticket=ticket, message=message, ticket_was_created=ticket_was_created)
    if matched is None:
        return False
    flow, trigger = matched
    return flow_run_start(flow=flow, ticket=ticket, trigger=trigger, message=message) is not None


def flow_route_queue_chosen(*, ticket: Ticket, message: Message) -> bool:
    """The customer just picked a queue from the queue menu: a flow triggered by that option
    starts (and auto-assignment waits for it)."""
    for flow in Flow.objects.filter(
        is_active=True, published_version__isnull=False, trigger_type=Flow.Trigger.QUEUE_MENU_OPTION
    ).order_by("priority", "id"):
        config = flow.trigger_config or {}
        if _in(config, "queues", ticket.queue_id) and _in(config, "connections", ticket.connection_id):
            return flow_run_start(flow=flow, ticket=ticket, trigger=flow.trigger_type, message=message) is not None
    return False


def flow_run_stop(*, run: FlowRun) -> FlowRun:
    """Ends an active run by hand (admin): handed over to people, the ticket no longer the bot's."""
    from tickets import events

    with transaction.atomic():
        locked = FlowRun.objects.select_for_update(of=("self",)).get(pk=run.pk)
        if not locked.is_active:
            return locked
        now = timezone.now()
        locked.status, locked.awaiting, locked.wait_until, locked.ended_at = FlowRun.Status.HANDED_OVER, "", None, now
        locked.save(update_fields=["status", "awaiting", "wait_until", "ended_at", "updated_at"])
        FlowTrace.objects.create(
            tenant_id=locked.tenant_id,
            run=locked,
            node_id=locked.current_node[:64],
            node_type="takeover",
            output={"reason": "stopped"},
        )
        ticket = Ticket.objects.select_related("contact", "queue", "assignee").get(pk=locked.ticket_id)
        if ticket.is_bot:
            Ticket.objects.filter(pk=ticket.pk).update(is_bot=False, updated_at=now)
            ticket.is_bot = False
            events.ticket_updated(ticket)
    return locked


def flow_runs_stop(*, ticket_id: int) -> int:
    """A person took the ticket (tickets.services): its active run ends as handed over."""
    stopped = 0
    for run_id in FlowRun.objects.filter(ticket_id=ticket_id, status__in=FlowRun.ACTIVE).values_list("pk", flat=True):
        run = flow_run_advance(run_id=run_id)  # sees the takeover and ends the run
        stopped += int(run is not None and run.status == FlowRun.Status.HANDED_OVER)
    return stopped


def flow_runs_resume_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Resumes the current tenant's runs whose timer is due (the beat's safety net for timers)."""
    now = now or timezone.now()
    due = list(
        FlowRun.objects.filter(
            status=FlowRun.Status.WAITING, awaiting=FlowRun.Awaiting.TIMER, wait_until__lte=now
        ).values_list("pk", flat=True)[:limit]
    )
    for run_id in due:
        flow_run_advance(run_id=run_id, now=now)
    return len(due)


def flows_inactivity_start(*, now: datetime | None = None, limit: int = 200) -> int:
    """Starts inactivity flows on tickets where we wrote last and the customer has been silent
    for the flow's `minutes`, once per silence (no run of that flow since the customer's last message)."""
    now = now or timezone.now()
    started = 0
    for flow in Flow.objects.filter(
        is_active=True, published_version__isnull=False, trigger_type=Flow.Trigger.INACTIVITY
    ).order_by("priority", "id"):
        config = flow.trigger_config or {}
        minutes = int(config.get("minutes") or 0)
        if minutes <= 0:
            continue
        tickets = Ticket.objects.filter(
            ~Q(status=Ticket.Status.CLOSED),
            is_bot=False,
            last_message_at__lte=now - timedelta(minutes=minutes),
        ).filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=F("last_message_at")))
        if config.get("connections"):
            tickets = tickets.filter(connection_id__in=config["connections"])
        # Once per silence: no run of this flow since the customer last wrote (or ever, if never).
        tickets = tickets.annotate(silence_since=Coalesce("last_inbound_at", "created_at")).exclude(
            Exists(FlowRun.objects.filter(ticket=OuterRef("pk"), flow=flow, started_at__gte=OuterRef("silence_since")))
        )
        for ticket_id in list(tickets.values_list("pk", flat=True)[:limit]):
            with transaction.atomic():
                ticket = Ticket.objects.select_for_update(of=("self",)).filter(pk=ticket_id, is_bot=False).first()
                if ticket is not None and flow_run_start(flow=flow, ticket=ticket, trigger=flow.trigger_type):
                    started += 1
    return started
