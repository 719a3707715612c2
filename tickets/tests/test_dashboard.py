"""The supervisors' dashboard: its numbers (tickets.reports), its query budget, who may see it and
that each tenant sees only its own data."""

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from accounts.models import Role
from tenants.context import tenant_context
from tenants.selectors import SESSION_TENANT_KEY
from tenants.tests.factories import TenantFactory
from tickets import reports
from tickets.models import Message, Ticket
from tickets.tests.factories import MessageFactory, QueueFactory, TicketFactory

SP = ZoneInfo("America/Sao_Paulo")
WEEKDAYS = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
PERIOD = {"start": "2026-03-04", "end": "2026-03-09"}


def sp(*args):
    return datetime(*args, tzinfo=SP)


def _ticket(tenant, created_at, **fields):
    ticket = TicketFactory(tenant=tenant, **fields)
    Ticket.all_tenants.filter(pk=ticket.pk).update(created_at=created_at)  # auto_now_add
    return ticket


class Data:
    pass


@pytest.fixture
def data(tenant, make_member):
    tenant.timezone = "America/Sao_Paulo"
    tenant.business_hours = WEEKDAYS
    tenant.save()
    d = Data()
    d.ana = make_member(tenant, Role.AGENT, name="Ana Agent")
    d.bruno = make_member(tenant, Role.AGENT, name="Bruno Agent")
    d.sales = QueueFactory(tenant=tenant, name="Vendas", menu_order=1)
    d.support = QueueFactory(tenant=tenant, name="Suporte", menu_order=2)
    # Wednesday 09:00, answered in 30 min, closed after 1 h, rated 5.
    d.t1 = _ticket(
        tenant, sp(2026, 3, 4, 9, 0), assignee=d.ana, status=Ticket.Status.CLOSED,
        first_response_at=sp(2026, 3, 4, 9, 30), closed_at=sp(2026, 3, 4, 10, 0), rating=5,
    )  # fmt: skip
    # Friday 17:00, answered Monday 09:00 (2 business hours), closed Monday 10:00 (3), rated 3.
    d.t2 = _ticket(
        tenant, sp(2026, 3, 6, 17, 0), assignee=d.bruno, status=Ticket.Status.CLOSED,
        first_response_at=sp(2026, 3, 9, 9, 0), closed_at=sp(2026, 3, 9, 10, 0), rating=3,
    )  # fmt: skip
    # Monday, waiting in Vendas.
    d.t3 = _ticket(tenant, sp(2026, 3, 9, 11, 0), queue=d.sales, status=Ticket.Status.PENDING)
    # 01:30 UTC on the 5th is 22:30 of the 4th in São Paulo: a day of the 4th. Waiting, no queue.
    d.t4 = _ticket(tenant, datetime(2026, 3, 5, 1, 30, tzinfo=UTC), status=Ticket.Status.PENDING)
    MessageFactory(tenant=tenant, ticket=d.t1, sent_at=sp(2026, 3, 4, 9, 0))
    MessageFactory(tenant=tenant, ticket=d.t1, sent_at=sp(2026, 3, 4, 9, 5))
    MessageFactory(
        tenant=tenant, ticket=d.t1, sent_at=sp(2026, 3, 4, 9, 30), direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT, author=d.ana,
    )  # fmt: skip
    MessageFactory(
        tenant=tenant, ticket=d.t1, sent_at=sp(2026, 3, 4, 9, 31), direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT, is_internal_note=True, provider_message_id="",
    )  # fmt: skip
    MessageFactory(tenant=tenant, ticket=d.t2, sent_at=sp(2026, 3, 9, 8, 0))
    # Another tenant, same days: never counted.
    d.other = TenantFactory(slug="dash-other", name="Other Dash Co", timezone="America/Sao_Paulo")
    d.other_ticket = _ticket(
        d.other, sp(2026, 3, 4, 9, 0), status=Ticket.Status.CLOSED, closed_at=sp(2026, 3, 4, 9, 10), rating=1,
        queue=QueueFactory(tenant=d.other, name="Fila Secreta"),
    )  # fmt: skip
    MessageFactory(tenant=d.other, ticket=d.other_ticket, sent_at=sp(2026, 3, 4, 9, 0))
    d.other_admin = make_member(d.other, Role.ADMIN, name="Other Admin")
    return d


def _period(tenant):
    return reports.report_period(tenant=tenant, start=date(2026, 3, 4), end=date(2026, 3, 9))


def test_report_numbers(tenant, data, django_assert_num_queries):
    with tenant_context(tenant), django_assert_num_queries(7):
        report = reports.dashboard_report(tenant=tenant, period=_period(tenant))

    assert [(row["day"].isoformat(), row["opened"], row["closed"]) for row in report.tickets_per_day] == [
        ("2026-03-04", 2, 1),
        ("2026-03-05", 0, 0),
        ("2026-03-06", 1, 0),
        ("2026-03-07", 0, 0),
        ("2026-03-08", 0, 0),
        ("2026-03-09", 1, 1),
    ]
    assert [(row["day"].isoformat(), row["inbound"], row["outbound"]) for row in report.messages_per_day] == [
        ("2026-03-04", 2, 1),  # the internal note is not a message to the customer
        ("2026-03-05", 0, 0),
        ("2026-03-06", 0, 0),
        ("2026-03-07", 0, 0),
        ("2026-03-08", 0, 0),
        ("2026-03-09", 1, 0),
    ]
    assert report.waiting_per_queue == [
        {"queue": "Vendas", "waiting": 1},
        {"queue": "Suporte", "waiting": 0},
        {"queue": None, "waiting": 1},
    ]
    totals = report.totals
    assert (totals.tickets, totals.closed) == (4, 2)
    # 30 min and 2 business hours (not the 64 wall-clock hours of the weekend): 75 min average.
    assert totals.avg_first_response == 4500.0
    assert totals.avg_resolution == (3600 + 3 * 3600) / 2
    assert totals.avg_rating == 4.0
    assert report.ratings == {3: 1, 5: 1}
    assert [
        (a.name, a.tickets, a.closed, a.avg_first_response, a.avg_resolution, a.avg_rating) for a in report.agents
    ] == [
        ("Ana Agent", 1, 1, 1800.0, 3600.0, 5.0),
        ("Bruno Agent", 1, 1, 7200.0, 10800.0, 3.0),
        ("", 2, 0, None, None, None),
    ]


def test_the_query_count_does_not_grow_with_the_data(tenant, data, django_assert_num_queries):
    for n in range(5):
        _ticket(tenant, sp(2026, 3, 5, 10, n), assignee=data.ana, first_response_at=sp(2026, 3, 5, 11, 0))
    with tenant_context(tenant), django_assert_num_queries(7):
        report = reports.dashboard_report(tenant=tenant, period=_period(tenant))
    assert report.totals.tickets == 9


def test_without_business_hours_every_hour_counts(tenant, data):
    tenant.business_hours = {}
    tenant.save()
    with tenant_context(tenant):
        report = reports.dashboard_report(tenant=tenant, period=_period(tenant))
    bruno = next(agent for agent in report.agents if agent.name == "Bruno Agent")
    assert bruno.avg_first_response == 64 * 3600  # Friday 17:00 → Monday 09:00


def test_default_period_is_the_last_30_days_in_the_tenants_timezone(tenant):
    tenant.timezone = "America/Sao_Paulo"
    # 02:00 UTC on 1 April is still 31 March in São Paulo.
    period = reports.report_period(tenant=tenant, now=datetime(2026, 4, 1, 2, 0, tzinfo=UTC))
    assert (period.start, period.end) == (date(2026, 3, 2), date(2026, 3, 31))
    assert period.since == sp(2026, 3, 2, 0, 0)
    assert period.until == sp(2026, 4, 1, 0, 0)
    assert len(period.days) == 30


def test_a_backwards_or_huge_period_is_fixed(tenant):
    backwards = reports.report_period(tenant=tenant, start=date(2026, 3, 9), end=date(2026, 3, 4))
    assert (backwards.start, backwards.end) == (date(2026, 3, 4), date(2026, 3, 9))
    huge = reports.report_period(tenant=tenant, start=date(1990, 1, 1), end=date(2026, 3, 4))
    assert (huge.start, huge.end) == (date(2025, 3, 4), date(2026, 3, 4))


# --- The page ---------------------------------------------------------------------------------


def _login(client, user, tenant):
    client.force_login(user)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPERVISOR])
def test_staff_see_the_dashboard(client, tenant, data, make_member, role):
    client = _login(client, make_member(tenant, role), tenant)
    response = client.get(reverse("admin:dashboard"), PERIOD)
    assert response.status_code == 200
    assert response.context["totals"] == {
        "tickets": 4, "closed": 2, "first_response": 75.0, "resolution": 120.0, "rating": 4.0, "ratings": 2,
        "waiting": 2,
    }  # fmt: skip
    chart = response.context["chart_data"]
    assert chart["opened"] == [2, 0, 1, 0, 0, 1]
    assert chart["queues"] == ["Vendas", "Suporte", "No queue"]
    body = response.content.decode()
    assert 'src="/static/vendor/chartjs/chart.umd.min.js"' in body
    assert 'id="dashboard-data"' in body
    assert "Fila Secreta" not in body and "Other Admin" not in body
    assert (
        f"{reverse('admin:dashboard_csv', kwargs={'dataset': 'tickets'})}?start=2026-03-04&amp;end=2026-03-09" in body
    )


def test_the_default_range_is_shown_in_the_form(client, tenant, data, make_member):
    client = _login(client, make_member(tenant, Role.SUPERVISOR), tenant)
    response = client.get(reverse("admin:dashboard"))
    period = response.context["period"]
    assert (period.end - period.start).days == 29
    assert response.context["form"].initial == {"start": period.start, "end": period.end}


def test_each_tenant_sees_only_its_own_numbers(client, tenant, data):
    client = _login(client, data.other_admin, data.other)
    response = client.get(reverse("admin:dashboard"), PERIOD)
    assert response.status_code == 200
    totals = response.context["totals"]
    assert (totals["tickets"], totals["closed"], totals["rating"], totals["waiting"]) == (1, 1, 1.0, 0)
    assert response.context["chart_data"]["queues"] == ["Fila Secreta"]
    assert response.context["chart_data"]["inbound"] == [1, 0, 0, 0, 0, 0]
    assert "Vendas" not in response.content.decode()


def test_agents_and_anonymous_people_are_sent_to_the_login(client, tenant, data):
    url = reverse("admin:dashboard")
    assert client.get(url).status_code == 302
    client = _login(client, data.ana, tenant)
    for target in (url, reverse("admin:dashboard_csv", kwargs={"dataset": "tickets"})):
        response = client.get(target)
        assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={target}")


def _csv(response):
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_every_dataset_downloads_as_csv(client, tenant, data, make_member):
    client = _login(client, make_member(tenant, Role.SUPERVISOR), tenant)

    def get(dataset):
        response = client.get(reverse("admin:dashboard_csv", kwargs={"dataset": dataset}), PERIOD)
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="{dataset}-20260304-20260309.csv"'
        return _csv(response)

    assert get("tickets") == [
        ["day", "opened", "closed"],
        ["2026-03-04", "2", "1"], ["2026-03-05", "0", "0"], ["2026-03-06", "1", "0"],
        ["2026-03-07", "0", "0"], ["2026-03-08", "0", "0"], ["2026-03-09", "1", "1"],
    ]  # fmt: skip
    assert get("messages")[1] == ["2026-03-04", "2", "1"]
    assert get("waiting") == [["queue", "waiting"], ["Vendas", "1"], ["Suporte", "0"], ["No queue", "1"]]
    assert get("agents") == [
        ["agent", "tickets", "closed", "avg_first_response_minutes", "avg_resolution_minutes", "avg_rating"],
        ["Ana Agent", "1", "1", "30.0", "60.0", "5.0"],
        ["Bruno Agent", "1", "1", "120.0", "180.0", "3.0"],
        ["Unassigned", "2", "0", "", "", ""],
    ]
    assert get("ratings") == [["rating", "tickets"], ["3", "1"], ["5", "1"]]


def test_csv_cells_never_run_as_formulas(client, tenant, data, make_member):
    QueueFactory(tenant=tenant, name="=HYPERLINK(1)", menu_order=9)
    client = _login(client, make_member(tenant, Role.SUPERVISOR), tenant)
    response = client.get(reverse("admin:dashboard_csv", kwargs={"dataset": "waiting"}), PERIOD)
    assert ["'=HYPERLINK(1)", "0"] in _csv(response)


def test_an_unknown_dataset_is_404(client, tenant, data, make_member):
    client = _login(client, make_member(tenant, Role.SUPERVISOR), tenant)
    assert client.get(reverse("admin:dashboard_csv", kwargs={"dataset": "secrets"})).status_code == 404
