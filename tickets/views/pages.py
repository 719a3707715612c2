"""The inbox page, the ticket list with its tabs and filters, and one list row."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET

from accounts.selectors import membership_tenants_for_user
from crm import selectors as crm_selectors
from tickets import selectors
from tickets.api.filters import TicketFilter
from tickets.selectors import InboxTab
from tickets.views.base import _is_htmx, _targets, _visible_ticket, _with_presence, inbox_view
from tickets.views.conversation import _conversation_context, _render_conversation
from whatsapp import selectors as whatsapp_selectors

# --- the ticket list --------------------------------------------------------------------------


class ListFilterForm(forms.Form):
    tab = forms.CharField(required=False)
    queue = forms.IntegerField(required=False, min_value=1)
    tag = forms.IntegerField(required=False, min_value=1)
    connection = forms.IntegerField(required=False, min_value=1)
    q = forms.CharField(required=False, max_length=200)
    page = forms.IntegerField(required=False, min_value=1)


def _list_params(request) -> dict:
    form = ListFilterForm(request.GET)
    form.is_valid()
    data = {key: value for key, value in form.cleaned_data.items() if value not in (None, "")}
    tabs = selectors.inbox_tabs_for(role=request.role)
    if data.get("tab") not in tabs:
        data["tab"] = InboxTab.MINE
    return data


def _filtered_tickets(request, params: dict):
    tickets = selectors.inbox_ticket_list(user=request.user, role=request.role, tab=params["tab"])
    api_filters = {key: params[key] for key in ("queue", "tag", "connection", "q") if key in params}
    return TicketFilter(data=api_filters, queryset=tickets, request=request).qs


def _query_string(params: dict, **changes) -> str:
    from urllib.parse import urlencode

    merged = {**params, **changes}
    return urlencode({key: value for key, value in merged.items() if value not in (None, "")})


def _list_page(request, params: dict) -> dict:
    page = params.get("page", 1)
    size = selectors.INBOX_PAGE_SIZE
    start = (page - 1) * size
    rows = list(_filtered_tickets(request, params)[start : start + size + 1])
    has_more = len(rows) > size
    return {
        "tickets": rows[:size],
        "params": params,
        "next_query": _query_string(params, page=page + 1) if has_more else "",
        "page": page,
        "open_ticket_id": None,
    }


def _list_context(request, params: dict) -> dict:
    tenant = request.tenant
    return {
        **_list_page(request, params),
        "tabs": _tabs(request),
        "queues": list(selectors.queue_list()),
        "tags": list(crm_selectors.tag_list(tenant=tenant)),
        "connections": list(whatsapp_selectors.connection_list(tenant=tenant)),
        "is_staff_role": request.role in selectors.STAFF_ROLES,
    }


def _tabs(request) -> list[dict]:
    counts = selectors.inbox_tab_counts(user=request.user, role=request.role)
    labels = {
        InboxTab.MINE: pgettext("inbox tab", "Mine"),
        InboxTab.WAITING: pgettext("inbox tab", "Waiting"),
        InboxTab.ALL: pgettext("inbox tab", "All"),
        InboxTab.CLOSED: pgettext("inbox tab", "Closed"),
    }
    return [
        {"key": key, "label": labels[key], **counts.get(key, {"count": None, "unread": 0})}
        for key in selectors.inbox_tabs_for(role=request.role)
    ]


@require_GET
@inbox_view
def inbox(request):
    return _inbox_page(request)


def _inbox_page(request, ticket_id=None):
    params = _list_params(request)
    context = _list_context(request, params)
    context["my_tenants"] = membership_tenants_for_user(user=request.user)
    context["team"] = _team(request)
    context["team_online"] = sum(1 for member in context["team"] if member["status"] == "online")
    if ticket_id is not None:
        context.update(_conversation_context(request, _visible_ticket(request, ticket_id)))
        context["open_ticket_id"] = ticket_id
    return render(request, "inbox/index.html", context)


@require_GET
@inbox_view
def ticket_list(request):
    """Rows of one tab and filter. The first page also refreshes the tabs' counters."""
    params = _list_params(request)
    context = _list_page(request, params)
    if context["page"] == 1:
        context.update(tabs=_tabs(request), oob_tabs=True)
    return render(request, "inbox/_rows.html", context)


def _team(request) -> list[dict]:
    """The workspace's members for the team list: online first, then away, then by name."""
    users, _queues = _targets(request)
    rank = {"online": 0, "away": 1, "offline": 2}
    return sorted(_with_presence(request, users), key=lambda member: rank.get(member["status"], 2))


@require_GET
@inbox_view
def ticket_tabs(request):
    """The tabs with fresh counters, for the current filters: after live events."""
    params = _list_params(request)
    return render(request, "inbox/_tabs.html", {"tabs": _tabs(request), "params": params})


@require_GET
@inbox_view
def ticket_row(request, ticket_id):
    """One row, as the list with these filters shows it; 204 when the ticket left this list."""
    ticket = _visible_ticket(request, ticket_id)
    params = _list_params(request)
    row = _filtered_tickets(request, params).filter(pk=ticket.pk).first()
    if row is None:
        return HttpResponse(status=204)
    return render(request, "inbox/_row.html", {"ticket": row, "params": params})


@require_GET
@inbox_view
def conversation(request, ticket_id):
    """The conversation pane (htmx) or, opened directly, the whole inbox with it open."""
    if not _is_htmx(request):
        return _inbox_page(request, ticket_id=ticket_id)
    return _render_conversation(request, _visible_ticket(request, ticket_id))
