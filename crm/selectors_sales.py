"""Reads of the sales pipeline, the agenda (tasks, meetings) and escalations, within one tenant.

Agents see the tasks assigned to or created by them, the meetings they organize and the
escalations they raised; admins and supervisors see all of them. Deals are the whole team's.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Prefetch,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone

from accounts.models import Membership, Role, User
from crm.models import Contact, Deal, DealActivity, DealLabel, Escalation, Meeting, Pipeline, Stage, Task
from tenants.models import Tenant

STAFF_ROLES = (Role.ADMIN, Role.SUPERVISOR)


def is_staff(role: str | None) -> bool:
    return role in STAFF_ROLES


def pipeline_list(*, tenant: Tenant) -> QuerySet[Pipeline]:
    return Pipeline.objects.filter(tenant=tenant).prefetch_related(
        Prefetch("stages", queryset=Stage.objects.order_by("order", "id"))
    )


def stage_list(*, tenant: Tenant) -> QuerySet[Stage]:
    return Stage.objects.filter(tenant=tenant).select_related("pipeline")


def deal_label_list(*, tenant: Tenant) -> QuerySet[DealLabel]:
    return DealLabel.objects.filter(tenant=tenant)


def deal_list(*, tenant: Tenant) -> QuerySet[Deal]:
    """Deals with what their API form shows (stage and pipeline, contact, owner, labels)."""
    return (
        Deal.objects.filter(tenant=tenant)
        .select_related("stage__pipeline", "contact", "owner")
        .prefetch_related("labels")
    )


def deal_search(queryset: QuerySet[Deal], query: str) -> QuerySet[Deal]:
    query = query.strip()
    if not query:
        return queryset
    return queryset.filter(
        Q(title__icontains=query) | Q(contact__name__icontains=query) | Q(contact__phone__contains=query)
    )


def deal_board(*, tenant: Tenant, pipeline: Pipeline) -> list[tuple[Stage, list[Deal]]]:
    """The Kanban board: the pipeline's stages in order, each with its open deals (two queries)."""
    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("order", "id"))
    by_stage: dict[int, list[Deal]] = {stage.pk: [] for stage in stages}
    deals = deal_list(tenant=tenant).filter(stage__pipeline=pipeline, status=Deal.Status.OPEN).order_by("-updated_at")
    for deal in deals:
        by_stage[deal.stage_id].append(deal)
    return [(stage, by_stage[stage.pk]) for stage in stages]


def deal_timeline(*, deal: Deal) -> QuerySet[DealActivity]:
    """The deal's activities, newest first."""
    return DealActivity.objects.filter(deal=deal).select_related("actor").order_by("-occurred_at", "-id")


def activity_list(*, tenant: Tenant) -> QuerySet[DealActivity]:
    return DealActivity.objects.filter(tenant=tenant).select_related("actor")


def deals_of_contact(*, contact: Contact) -> QuerySet[Deal]:
    return deal_list(tenant=contact.tenant).filter(contact=contact).order_by("status", "-updated_at")


# --- tasks ----------------------------------------------------------------------------------


def task_list_for_user(*, tenant: Tenant, user: User, role: str | None) -> QuerySet[Task]:
    tasks = Task.objects.filter(tenant=tenant).select_related("assignee", "contact", "deal")
    if not is_staff(role):
        tasks = tasks.filter(Q(assignee=user) | Q(created_by=user))
    return tasks


def task_overdue(queryset: QuerySet[Task], *, now=None) -> QuerySet[Task]:
    """Open tasks whose due time has passed, the oldest first."""
    return queryset.filter(done=False, due_at__lt=now or timezone.now()).order_by("due_at", "id")


def tasks_of_contact(*, contact: Contact, user: User, role: str | None) -> QuerySet[Task]:
    return task_list_for_user(tenant=contact.tenant, user=user, role=role).filter(contact=contact, done=False)


def tasks_to_remind(*, now=None) -> QuerySet[Task]:
    return Task.objects.filter(done=False, reminded_at=None, remind_at__lte=now or timezone.now())


# --- meetings -------------------------------------------------------------------------------


def meeting_list_for_user(*, tenant: Tenant, user: User, role: str | None) -> QuerySet[Meeting]:
    meetings = Meeting.objects.filter(tenant=tenant).select_related("contact", "organizer", "deal")
    if not is_staff(role):
        meetings = meetings.filter(organizer=user)
    return meetings


def meetings_to_remind(*, now=None) -> list[Meeting]:
    """Scheduled meetings not yet reminded whose reminder time (start − N minutes) has come and
    that have not started yet (a reminder after the start helps nobody)."""
    now = now or timezone.now()
    lead = ExpressionWrapper(F("remind_minutes_before") * Value(timedelta(minutes=1)), output_field=DurationField())
    return list(
        Meeting.objects.filter(status=Meeting.Status.SCHEDULED, reminder_sent_at=None, starts_at__gt=now)
        .alias(reminder_at=ExpressionWrapper(F("starts_at") - lead, output_field=DateTimeField()))
        .filter(reminder_at__lte=now)
        .select_related("contact")
    )


# --- escalations ----------------------------------------------------------------------------


def escalation_list_for_user(*, tenant: Tenant, user: User, role: str | None) -> QuerySet[Escalation]:
    escalations = Escalation.objects.filter(tenant=tenant).select_related(
        "ticket__contact", "raised_by", "assigned_to", "resolved_by"
    )
    if not is_staff(role):
        escalations = escalations.filter(raised_by=user)
    return escalations


def supervisor_workloads(*, tenant: Tenant) -> dict[int, int]:
    """{user id: active escalations assigned} for every active supervisor of the tenant."""
    supervisor_ids = Membership.objects.filter(tenant=tenant, role=Role.SUPERVISOR, is_active=True).values_list(
        "user_id", flat=True
    )
    loads = dict.fromkeys(supervisor_ids, 0)
    counts = (
        Escalation.objects.filter(tenant=tenant, status__in=Escalation.ACTIVE_STATUSES, assigned_to__in=list(loads))
        .values("assigned_to")
        .annotate(total=Count("id"))
    )
    for row in counts:
        loads[row["assigned_to"]] = row["total"]
    return loads
