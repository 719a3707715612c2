"""The supervisors' dashboard in the admin (/admin/dashboard/): charts of the tenant's tickets and
messages over a date range, each dataset also downloadable as CSV. Reads in tickets.reports.

Reached through the admin site (`admin_view`: tenant admins, supervisors and superusers; agents
are sent to the login). Everything is read inside the request's tenant."""

from __future__ import annotations

import csv
import io

from django import forms
from django.contrib import admin
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tickets import reports


class PeriodForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


def _tenant_or_none(request):
    return getattr(request, "tenant", None)


def _period(request, tenant) -> tuple[PeriodForm, reports.Period]:
    form = PeriodForm(request.GET or None)
    start = end = None
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    period = reports.report_period(tenant=tenant, start=start, end=end)
    if not form.is_bound or not form.is_valid():
        form = PeriodForm(initial={"start": period.start, "end": period.end})
    return form, period


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _duration_text(seconds: float | None) -> str:
    """For people: "45 min", "5 h 05 min"."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("%(minutes)d min") % {"minutes": minutes}
    return _("%(hours)d h %(minutes)02d min") % {"hours": minutes // 60, "minutes": minutes % 60}


def _datasets(report: reports.DashboardReport) -> dict[str, tuple[list[str], list[list]]]:
    """Every dataset of the page as (header, rows): what the CSVs hold and the charts draw."""
    agent_rows = [
        [
            agent.name or _("Unassigned"),
            agent.tickets,
            agent.closed,
            _minutes(agent.avg_first_response),
            _minutes(agent.avg_resolution),
            agent.avg_rating,
        ]
        for agent in report.agents
    ]
    return {
        "tickets": (
            ["day", "opened", "closed"],
            [[row["day"].isoformat(), row["opened"], row["closed"]] for row in report.tickets_per_day],
        ),
        "messages": (
            ["day", "inbound", "outbound"],
            [[row["day"].isoformat(), row["inbound"], row["outbound"]] for row in report.messages_per_day],
        ),
        "waiting": (
            ["queue", "waiting"],
            [[row["queue"] or _("No queue"), row["waiting"]] for row in report.waiting_per_queue],
        ),
        "agents": (
            ["agent", "tickets", "closed", "avg_first_response_minutes", "avg_resolution_minutes", "avg_rating"],
            agent_rows,
        ),
        "ratings": (["rating", "tickets"], [[rating, count] for rating, count in report.ratings.items()]),
    }


DATASET_TITLES = {
    "tickets": gettext_lazy("Tickets opened and closed per day"),
    "messages": gettext_lazy("Messages in and out per day"),
    "waiting": gettext_lazy("Waiting now per queue"),
    "agents": gettext_lazy("Per agent"),
    "ratings": gettext_lazy("Satisfaction ratings"),
}


def _no_tenant(request):
    context = {**admin.site.each_context(request), "title": _("Dashboard"), "no_tenant": True}
    return TemplateResponse(request, "admin/prosa_dashboard.html", context)


def dashboard_view(request):
    tenant = _tenant_or_none(request)
    if tenant is None:
        # A platform superuser outside any tenant: the dashboard is per tenant.
        return _no_tenant(request)
    form, period = _period(request, tenant)
    report = reports.dashboard_report(tenant=tenant, period=period)
    datasets = _datasets(report)
    query = urlencode({"start": period.start.isoformat(), "end": period.end.isoformat()})
    chart_data = {
        "labels": [row["day"].isoformat() for row in report.tickets_per_day],
        "opened": [row["opened"] for row in report.tickets_per_day],
        "closed": [row["closed"] for row in report.tickets_per_day],
        "inbound": [row["inbound"] for row in report.messages_per_day],
        "outbound": [row["outbound"] for row in report.messages_per_day],
        "queues": [row[0] for row in datasets["waiting"][1]],
        "waiting": [row[1] for row in datasets["waiting"][1]],
        "agents": [row[0] for row in datasets["agents"][1]],
        "agent_tickets": [row[1] for row in datasets["agents"][1]],
        "agent_closed": [row[2] for row in datasets["agents"][1]],
        "ratings": [str(row[0]) for row in datasets["ratings"][1]],
        "rating_counts": [row[1] for row in datasets["ratings"][1]],
        "texts": {
            "opened": _("Opened"),
            "closed": _("Closed"),
            "inbound": _("From customers"),
            "outbound": _("To customers"),
            "waiting": _("Waiting"),
            "tickets": _("Tickets"),
        },
    }
    csv_links = {key: f"{reverse('admin:dashboard_csv', kwargs={'dataset': key})}?{query}" for key in DATASET_TITLES}
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "subtitle": tenant.name,
        "form": form,
        "period": period,
        "report": report,
        "totals": {
            "tickets": report.totals.tickets,
            "closed": report.totals.closed,
            "first_response": _minutes(report.totals.avg_first_response),
            "resolution": _minutes(report.totals.avg_resolution),
            "rating": report.totals.avg_rating,
            "ratings": len(report.totals.ratings),
            "waiting": sum(row["waiting"] for row in report.waiting_per_queue),
        },
        "durations": {
            "first_response": _duration_text(report.totals.avg_first_response),
            "resolution": _duration_text(report.totals.avg_resolution),
        },
        "agents": datasets["agents"][1],
        "chart_data": chart_data,
        "csv_links": csv_links,
        "titles": DATASET_TITLES,
        "business_hours_set": bool(tenant.business_hours),
    }
    return TemplateResponse(request, "admin/prosa_dashboard.html", context)


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a queue or agent name must not run as a spreadsheet formula
    return value


def dashboard_csv_view(request, dataset: str):
    tenant = _tenant_or_none(request)
    if tenant is None or dataset not in DATASET_TITLES:
        raise Http404
    _form, period = _period(request, tenant)
    header, rows = _datasets(reports.dashboard_report(tenant=tenant, period=period))[dataset]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([_csv_cell(value) for value in row] for row in rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"{dataset}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
