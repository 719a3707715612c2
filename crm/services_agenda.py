"""Writes of the agenda: tasks (with a reminder to their assignee) and meetings with contacts
(with a WhatsApp reminder to the contact, and a message when one is cancelled or moved).

Times given without an offset (the inbox's date-time inputs) are read in the tenant's time zone.
Each reminder fires once: the beat job claims it with a conditional UPDATE before sending, so two
workers (or a rerun) cannot send it twice. Moving a task's reminder or a meeting's start arms its
reminder again.

A task reminder is an in-app event; when the assignee's membership has a WhatsApp number it is
also sent there from the tenant's default connection (a task after commit, see
`task_reminder_whatsapp_send`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from crm import events, services_sales
from crm.exceptions import InvalidReference, MeetingCancelled, MeetingInPast, TaskAlreadyDone
from crm.models import Contact, Deal, DealActivity, Meeting, Task
from crm.services_sales import member_check
from tenants.models import Tenant

logger = logging.getLogger(__name__)

TASK_FIELDS = frozenset({"title", "notes", "due_at", "remind_at", "assignee", "contact", "deal", "ticket"})
MEETING_FIELDS = frozenset(
    {"title", "contact", "deal", "organizer", "starts_at", "duration_minutes", "location", "notes",
     "remind_minutes_before"}
)  # fmt: skip


def in_tenant_time(value: datetime | None, tenant: Tenant) -> datetime | None:
    """An aware datetime; a naive one is a wall-clock time in the tenant's time zone."""
    if value is None or timezone.is_aware(value):
        return value
    return timezone.make_aware(value, ZoneInfo(tenant.timezone))


def _check_ticket(ticket, actor: User | None) -> None:
    if ticket is None or actor is None:
        return
    from tickets import selectors as ticket_selectors

    role = ticket_selectors.role_of(user=actor)
    if not ticket_selectors.ticket_is_visible(ticket=ticket, user=actor, role=role):
        raise InvalidReference(fields={"ticket": [_("This ticket does not exist.")]})


# --- tasks --------------------------------------------------------------------------------------


def _task_refreshed(task: Task) -> Task:
    return Task.objects.select_related("assignee", "contact", "deal").get(pk=task.pk)


def task_create(
    *,
    tenant: Tenant,
    actor: User | None,
    title: str,
    due_at: datetime,
    assignee: User | None = None,
    remind_at: datetime | None = None,
    notes: str = "",
    contact: Contact | None = None,
    deal: Deal | None = None,
    ticket=None,
) -> Task:
    """A task for `assignee` (default: whoever creates it), reminded at `remind_at` (default: when
    it is due)."""
    member_check(tenant=tenant, user=assignee, field="assignee")
    _check_ticket(ticket, actor)
    due_at = in_tenant_time(due_at, tenant)
    with transaction.atomic():
        task = Task.objects.create(
            tenant=tenant,
            title=title.strip(),
            notes=notes,
            due_at=due_at,
            remind_at=in_tenant_time(remind_at, tenant) or due_at,
            assignee=assignee if assignee is not None else actor,
            contact=contact if contact is not None else getattr(deal, "contact", None),
            deal=deal,
            ticket=ticket,
            created_by=actor,
        )
        task = _task_refreshed(task)
        events.task_event(task, "task.created")
        return task


def task_update(*, task: Task, actor: User | None, **changes) -> Task:
    unknown = set(changes) - TASK_FIELDS
    if unknown:
        raise TypeError(f"unknown task fields: {sorted(unknown)}")
    tenant = task.tenant
    if "assignee" in changes:
        member_check(tenant=tenant, user=changes["assignee"], field="assignee")
    _check_ticket(changes.get("ticket"), actor)
    for field in ("due_at", "remind_at"):
        if field in changes:
            changes[field] = in_tenant_time(changes[field], tenant)
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task.pk)
        moved_due = "due_at" in changes and changes["due_at"] != task.due_at
        for field, value in changes.items():
            setattr(task, field, value)
        if moved_due and "remind_at" not in changes:
            task.remind_at = task.due_at
        if "remind_at" in changes or moved_due:
            task.reminded_at = None  # a new time: remind again
        task.save()
        task = _task_refreshed(task)
        events.task_event(task, "task.updated")
        return task


def task_complete(*, task: Task, actor: User | None, now=None) -> Task:
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task.pk)
        if task.done:
            raise TaskAlreadyDone()
        task.done, task.done_at, task.completed_by = True, now or timezone.now(), actor
        task.save(update_fields=["done", "done_at", "completed_by"])
        task = _task_refreshed(task)
        events.task_event(task, "task.completed")
        return task


def task_reopen(*, task: Task, actor: User | None) -> Task:
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=task.pk)
        task.done, task.done_at, task.completed_by = False, None, None
        task.save(update_fields=["done", "done_at", "completed_by"])
        task = _task_refreshed(task)
        events.task_event(task, "task.updated")
        return task


@transaction.atomic
def task_delete(*, task: Task) -> None:
    events.task_deleted(task)
    task.delete()


def task_reminders_send(*, now=None) -> int:
    """Reminds the assignees of the current tenant's tasks whose reminder time has come (beat,
    every minute). Returns how many were sent."""
    from crm.selectors_sales import tasks_to_remind

    now = now or timezone.now()
    sent = 0
    for task_id in list(tasks_to_remind(now=now).values_list("pk", flat=True)):
        with transaction.atomic():
            claimed = Task.objects.filter(pk=task_id, reminded_at=None, done=False).update(reminded_at=now)
            if not claimed:
                continue  # another worker got it, or it was done meanwhile
            task = _task_refreshed(Task(pk=task_id))
            events.task_reminder(task)
            _task_reminder_whatsapp_later(task)
            sent += 1
    return sent


def _task_reminder_whatsapp_later(task: Task) -> None:
    from accounts.models import Membership
    from crm.tasks import task_reminder_whatsapp_task

    if task.assignee_id is None:
        return
    has_number = (
        Membership.objects.filter(user_id=task.assignee_id, is_active=True).exclude(whatsapp_number="").exists()
    )
    if has_number:
        transaction.on_commit(
            lambda: task_reminder_whatsapp_task.delay(task_id=task.pk, tenant_id=task.tenant_id), robust=True
        )


def task_reminder_whatsapp_text(task: Task) -> str:
    """What the assignee reads on WhatsApp, in the tenant's language and time zone."""
    local = timezone.localtime(task.due_at, ZoneInfo(task.tenant.timezone))
    with translation.override(task.tenant.language):
        text = _("Reminder: %(title)s (due %(when)s)") % {
            "title": task.title,
            "when": formats.date_format(local, "SHORT_DATETIME_FORMAT"),
        }
        if task.contact_id:
            text += "\n" + _("Contact: %(name)s") % {"name": task.contact.display_name}
    return text


def task_reminder_whatsapp_send(*, task_id: int) -> bool:
    """Sends a task's reminder to its assignee's WhatsApp number through the tenant's default
    connection when it is connected (else its first connected one, else the default). Returns
    whether WhatsApp took it; a refusal (no connection, or the Cloud API's 24-hour window with the
    agent closed) is logged, not retried: the in-app reminder was already delivered."""
    from accounts.models import Membership
    from whatsapp.models import Connection
    from whatsapp.providers import ProviderError, get_adapter

    task = Task.objects.select_related("tenant", "contact").filter(pk=task_id, done=False).first()
    if task is None or task.assignee_id is None:
        return False
    membership = Membership.objects.filter(user_id=task.assignee_id, is_active=True).first()
    if membership is None or not membership.whatsapp_number:
        return False
    connection = (
        Connection.objects.filter(status=Connection.Status.CONNECTED).order_by("-is_default", "id").first()
        or Connection.objects.filter(is_default=True).first()
    )
    log = {"task_id": task.pk, "tenant_id": task.tenant_id}
    if connection is None:
        logger.info("task reminder not sent on WhatsApp: no connection", extra=log)
        return False
    try:
        get_adapter(connection).send_text(membership.whatsapp_number, task_reminder_whatsapp_text(task))
    except ProviderError as exc:
        logger.warning("task reminder not sent on WhatsApp", extra={**log, "code": exc.code})
        return False
    return True


# --- meetings -----------------------------------------------------------------------------------


def _meeting_refreshed(meeting: Meeting) -> Meeting:
    return Meeting.objects.select_related("contact", "organizer", "deal", "tenant").get(pk=meeting.pk)


def _when(meeting: Meeting) -> str:
    local = timezone.localtime(meeting.starts_at, ZoneInfo(meeting.tenant.timezone))
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")


def _notice(meeting: Meeting, kind: str) -> str:
    """The message the contact reads, in the tenant's language."""
    with translation.override(meeting.tenant.language):
        values = {"title": meeting.title, "when": _when(meeting), "location": meeting.location}
        if kind == "reminder":
            text = _("Reminder: %(title)s on %(when)s.") % values
        elif kind == "rescheduled":
            text = _("Your meeting %(title)s was moved to %(when)s.") % values
        else:
            text = _("Your meeting %(title)s on %(when)s was cancelled.") % values
        if meeting.location and kind != "cancelled":
            text += "\n" + _("Where: %(location)s") % values
    return text


def _conversation_for(contact: Contact):
    """The contact's conversation to write on: the newest ticket not closed, else the newest."""
    from tickets.models import Ticket

    return (
        Ticket.objects.filter(contact=contact)
        .select_related("connection", "contact")
        .annotate(
            closed=Case(When(status=Ticket.Status.CLOSED, then=Value(1)), default=Value(0), output_field=IntegerField())
        )
        .order_by("closed", "-created_at", "-id")
        .first()
    )


def _fail(meeting: Meeting, code: str, detail: str) -> None:
    meeting.failure_code, meeting.failure_detail, meeting.failed_at = code, detail[:300], timezone.now()
    Meeting.objects.filter(pk=meeting.pk).update(
        failure_code=meeting.failure_code, failure_detail=meeting.failure_detail, failed_at=meeting.failed_at
    )
    logger.info("meeting message not sent", extra={"meeting_id": meeting.pk, "code": code})


def _message_contact(meeting: Meeting, kind: str) -> bool:
    """Sends the notice over the contact's latest conversation. Without one, or when the Cloud
    API's 24-hour window is closed (a template would be needed), the meeting records why."""
    from tickets.services import system_message_send, window_is_open

    ticket = _conversation_for(meeting.contact)
    if ticket is None:
        _fail(meeting, "no_conversation", _("The contact has no WhatsApp conversation to write on."))
        return False
    if not window_is_open(ticket):
        _fail(
            meeting,
            "whatsapp_window_closed",
            _("The contact has not written in the last 24 hours; WhatsApp only accepts a template now."),
        )
        return False
    system_message_send(ticket=ticket, text=_notice(meeting, kind))
    if meeting.failure_code:
        meeting.failure_code, meeting.failure_detail, meeting.failed_at = "", "", None
        Meeting.objects.filter(pk=meeting.pk).update(failure_code="", failure_detail="", failed_at=None)
    return True


def meeting_create(
    *,
    tenant: Tenant,
    actor: User | None,
    contact: Contact,
    title: str,
    starts_at: datetime,
    duration_minutes: int = 30,
    location: str = "",
    notes: str = "",
    deal: Deal | None = None,
    organizer: User | None = None,
    remind_minutes_before: int = 60,
    now=None,
) -> Meeting:
    member_check(tenant=tenant, user=organizer, field="organizer")
    starts_at = in_tenant_time(starts_at, tenant)
    if starts_at <= (now or timezone.now()):
        raise MeetingInPast(fields={"starts_at": [str(MeetingInPast.default_detail)]})
    with transaction.atomic():
        meeting = Meeting.objects.create(
            tenant=tenant,
            title=title.strip(),
            contact=contact,
            deal=deal,
            organizer=organizer if organizer is not None else actor,
            starts_at=starts_at,
            duration_minutes=duration_minutes,
            location=location.strip(),
            notes=notes,
            remind_minutes_before=remind_minutes_before,
        )
        if deal is not None:
            # The deal's timeline shows its meetings.
            services_sales.activity_add(
                deal=deal,
                actor=actor,
                type=DealActivity.Type.MEETING,
                text=meeting.title,
                data={"meeting_id": meeting.pk, "starts_at": starts_at.isoformat()},
            )
        meeting = _meeting_refreshed(meeting)
        events.meeting_event(meeting, "meeting.created")
        return meeting


def meeting_update(*, meeting: Meeting, actor: User | None, now=None, **changes) -> Meeting:
    """A new start is a reschedule: the contact is told and the reminder is armed again."""
    unknown = set(changes) - MEETING_FIELDS
    if unknown:
        raise TypeError(f"unknown meeting fields: {sorted(unknown)}")
    tenant = meeting.tenant
    if "organizer" in changes:
        member_check(tenant=tenant, user=changes["organizer"], field="organizer")
    if "starts_at" in changes:
        changes["starts_at"] = in_tenant_time(changes["starts_at"], tenant)
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update(of=("self",)).select_related("tenant", "contact").get(pk=meeting.pk)
        if meeting.status == Meeting.Status.CANCELLED:
            raise MeetingCancelled()
        moved = "starts_at" in changes and changes["starts_at"] != meeting.starts_at
        if moved and changes["starts_at"] <= (now or timezone.now()):
            raise MeetingInPast(fields={"starts_at": [str(MeetingInPast.default_detail)]})
        reminder_moved = "remind_minutes_before" in changes
        for field, value in changes.items():
            setattr(meeting, field, value)
        if moved or reminder_moved:
            meeting.reminder_sent_at = None
        meeting.save()
        if moved:
            _message_contact(meeting, "rescheduled")
        meeting = _meeting_refreshed(meeting)
        events.meeting_event(meeting, "meeting.updated")
        return meeting


def meeting_reschedule(*, meeting: Meeting, actor: User | None, starts_at: datetime, now=None) -> Meeting:
    return meeting_update(meeting=meeting, actor=actor, starts_at=starts_at, now=now)


def meeting_cancel(*, meeting: Meeting, actor: User | None) -> Meeting:
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update(of=("self",)).select_related("tenant", "contact").get(pk=meeting.pk)
        if meeting.status == Meeting.Status.CANCELLED:
            raise MeetingCancelled()
        meeting.status = Meeting.Status.CANCELLED
        meeting.save(update_fields=["status", "updated_at"])
        _message_contact(meeting, "cancelled")
        meeting = _meeting_refreshed(meeting)
        events.meeting_event(meeting, "meeting.updated")
        return meeting


@transaction.atomic
def meeting_delete(*, meeting: Meeting) -> None:
    meeting.delete()


def meeting_reminders_send(*, now=None) -> int:
    """Reminds the contacts of the current tenant's meetings whose reminder time has come (beat,
    every minute). Returns how many messages were handed over for delivery."""
    from crm.selectors_sales import meetings_to_remind

    now = now or timezone.now()
    sent = 0
    for due in meetings_to_remind(now=now):
        with transaction.atomic():
            claimed = Meeting.objects.filter(pk=due.pk, reminder_sent_at=None, status=Meeting.Status.SCHEDULED).update(
                reminder_sent_at=now
            )
            if not claimed:
                continue
            meeting = _meeting_refreshed(due)
            sent += _message_contact(meeting, "reminder")
    return sent
