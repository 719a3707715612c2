"""Reads of the supervisors' dashboard: aggregated in SQL, a fixed number of queries per report.

Days are the tenant's days (its timezone). Times (first response, resolution) count only the
seconds inside the tenant's business hours (tenants.hours.business_seconds_between), so a ticket
opened on Friday night and answered on Monday morning is not "answered in 60 hours".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from tenants.hours import business_seconds_between
from tenants.models import Tenant
from tickets.models import Message, Queue, Ticket

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Whole local days `start`..`end` (inclusive) in the tenant's timezone."""

    start: date
    end: date
    tz_name: str

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, ZoneInfo(self.tz_name))

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, ZoneInfo(self.tz_name))

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def report_period(*, tenant: Tenant, start: date | None = None, end: date | None = None, now=None) -> Period:
    """The period asked for, or the last 30 days up to today (the tenant's today); swapped when
    given backwards and capped at a year, so a typo can't ask for a century."""
    today = (now or timezone.now()).astimezone(ZoneInfo(tenant.timezone)).date()
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        start, end = end, start
    start = max(start, end - timedelta(days=MAX_DAYS - 1))
    return Period(start=start, end=end, tz_name=tenant.timezone)


@dataclass
class AgentRow:
    user_id: int | None
    name: str
    tickets: int = 0
    closed: int = 0
    first_response_seconds: list[float] = field(default_factory=list)
    resolution_seconds: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)

    @property
    def avg_first_response(self) -> float | None:
        return _mean(self.first_response_seconds)

    @property
    def avg_resolution(self) -> float | None:
        return _mean(self.resolution_seconds)

    @property
    def avg_rating(self) -> float | None:
        return _mean(self.ratings)


@dataclass
class DashboardReport:
    period: Period
    tickets_per_day: list[dict]  # {"day", "opened", "closed"}
    messages_per_day: list[dict]  # {"day", "inbound", "outbound"}
    waiting_per_queue: list[dict]  # {"queue", "waiting"}
    totals: AgentRow  # every ticket opened in the period
    agents: list[AgentRow]  # per assignee, the unassigned ones last
    ratings: dict[int, int]  # rating → how many tickets


def _mean(values) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _per_day(period: Period, rows, key: str) -> dict[date, int]:
    return {row["day"]: row[key] for row in rows}


def tickets_per_day(*, period: Period) -> list[dict]:
    """Opened (by creation) and closed (by close time) per local day. 2 queries."""
    tz = ZoneInfo(period.tz_name)
    opened = _per_day(
        period,
        Ticket.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("id"))
        .order_by(),
        "n",
    )
    closed = _per_day(
        period,
        Ticket.objects.filter(closed_at__gte=period.since, closed_at__lt=period.until)
        .annotate(day=TruncDate("closed_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("id"))
        .order_by(),
        "n",
    )
    return [{"day": day, "opened": opened.get(day, 0), "closed": closed.get(day, 0)} for day in period.days]


def messages_per_day(*, period: Period) -> list[dict]:
    """Messages exchanged with customers per local day and direction (internal notes aside). 1 query."""
    rows = (
        Message.objects.filter(sent_at__gte=period.since, sent_at__lt=period.until, is_internal_note=False)
        .annotate(day=TruncDate("sent_at", tzinfo=ZoneInfo(period.tz_name)))
        .values("day")
        .annotate(
            inbound=Count("id", filter=Q(direction=Message.Direction.INBOUND)),
            outbound=Count("id", filter=Q(direction=Message.Direction.OUTBOUND)),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in rows}
    return [
        {
            "day": day,
            "inbound": by_day.get(day, {}).get("inbound", 0),
            "outbound": by_day.get(day, {}).get("outbound", 0),
        }
        for day in period.days
    ]


def waiting_per_queue() -> list[dict]:
    """Tickets waiting right now (not the period's): every queue, then those in no queue. 2 queries."""
    waiting = Q(tickets__status=Ticket.Status.PENDING)
    rows = [
        {"queue": queue.name, "waiting": queue.waiting}
        for queue in Queue.objects.annotate(waiting=Count("tickets", filter=waiting)).order_by("menu_order", "name")
    ]
    without_queue = Ticket.objects.filter(status=Ticket.Status.PENDING, queue__isnull=True).count()
    if without_queue:
        rows.append({"queue": None, "waiting": without_queue})
    return rows


def ticket_times(*, tenant: Tenant, period: Period) -> tuple[AgentRow, list[AgentRow], dict[int, int]]:
    """Counts, business-hours times and ratings of the tickets opened in the period, in total and
    per assignee. 2 queries: the tickets' timestamps (only the columns needed), then the names."""
    rows = Ticket.objects.filter(created_at__gte=period.since, created_at__lt=period.until).values_list(
        "assignee_id", "created_at", "first_response_at", "closed_at", "rating"
    )
    schedule, tz_name = tenant.business_hours, tenant.timezone
    totals = AgentRow(user_id=None, name="")
    agents: dict[int | None, AgentRow] = {}
    ratings: dict[int, int] = defaultdict(int)
    for assignee_id, created_at, first_response_at, closed_at, rating in rows:
        agent = agents.setdefault(assignee_id, AgentRow(user_id=assignee_id, name=""))
        for row in (totals, agent):
            row.tickets += 1
        if first_response_at is not None:
            seconds = business_seconds_between(schedule, tz_name, created_at, first_response_at)
            totals.first_response_seconds.append(seconds)
            agent.first_response_seconds.append(seconds)
        if closed_at is not None:
            seconds = business_seconds_between(schedule, tz_name, created_at, closed_at)
            for row in (totals, agent):
                row.closed += 1
                row.resolution_seconds.append(seconds)
        if rating is not None:
            totals.ratings.append(rating)
            agent.ratings.append(rating)
            ratings[rating] += 1
    names = dict(User.objects.filter(pk__in=[pk for pk in agents if pk is not None]).values_list("pk", "name"))
    for user_id, agent in agents.items():
        agent.name = names.get(user_id, "") if user_id is not None else ""
    ordered = sorted(agents.values(), key=lambda agent: (agent.user_id is None, -agent.tickets, agent.name.lower()))
    return totals, ordered, dict(sorted(ratings.items()))


def dashboard_report(*, tenant: Tenant, period: Period) -> DashboardReport:
    """Everything the dashboard shows, in 7 queries whatever the data (pinned by the tests)."""
    totals, agents, ratings = ticket_times(tenant=tenant, period=period)
    return DashboardReport(
        period=period,
        tickets_per_day=tickets_per_day(period=period),
        messages_per_day=messages_per_day(period=period),
        waiting_per_queue=waiting_per_queue(),
        totals=totals,
        agents=agents,
        ratings=ratings,
    )
