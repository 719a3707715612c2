"""Plumbing shared by the inbox views: login and membership, errors in words, small lookups."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from accounts.models import User
from config.errors import NotFound, ProsaError, ValidationFailed
from tickets import selectors
from tickets.models import Ticket


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _flash(request, message: str, *, status: int = 400, details: list[str] | None = None) -> HttpResponse:
    response = render(request, "inbox/_flash.html", {"message": message, "details": details or []}, status=status)
    response["HX-Retarget"] = "#flash"
    response["HX-Reswap"] = "innerHTML"
    return response


def _error_details(fields) -> list[str]:
    """Field errors of a domain exception as lines people read (nested dicts flattened)."""
    lines: list[str] = []
    for key, value in (fields or {}).items():
        if isinstance(value, dict):
            lines += [f"{key}: {line}" for line in _error_details(value)]
        elif isinstance(value, list | tuple):
            lines += [f"{key}: {item}" if key not in ("file", "non_field_errors") else str(item) for item in value]
    return lines


def inbox_view(view):
    """Login, an active membership in the session's tenant, the tenant's time zone and (unless the
    user picked one) language. Domain errors become words; a missing object becomes a 404."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("login"))
        tenant = getattr(request, "tenant", None)
        role = selectors.role_of(user=request.user) if tenant is not None else None
        if role is None:
            return render(request, "inbox/no_workspace.html", status=403)
        request.role = role
        language = translation.get_language()
        if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
            language = tenant.language
        with timezone.override(tenant.timezone), translation.override(language):
            try:
                response = view(request, *args, **kwargs)
            except NotFound:
                if _is_htmx(request):
                    return _flash(request, _("This ticket is no longer available to you."), status=404)
                raise Http404() from None
            except ProsaError as exc:
                return _flash(request, str(exc.detail), status=exc.status_code, details=_error_details(exc.fields))
        patch_vary_headers(response, ("HX-Request",))
        return response

    return wrapper


def _changed(response: HttpResponse, ticket_id: int) -> HttpResponse:
    """Tells the page's script that a ticket changed (its list row is refetched)."""
    response["HX-Trigger"] = json.dumps({"inbox:ticket-changed": {"id": ticket_id}})
    return response


def _visible_ticket(request, ticket_id) -> Ticket:
    ticket = selectors.ticket_get_for_user(ticket_id=ticket_id, user=request.user, role=request.role)
    return ticket


def _day_label(day, today) -> str:
    from django.utils.formats import date_format

    if day == today:
        return _("Today")
    if day == today - timedelta(days=1):
        return _("Yesterday")
    return date_format(day, "DATE_FORMAT")


def _targets(request) -> tuple[list[User], list]:
    return selectors.inbox_transfer_targets(tenant=request.tenant)


def _with_presence(request, users: list[User]) -> list[dict]:
    """Members with their status (online / away / offline), as the transfer dialog and the team
    list first show them; `presence.updated` events keep them current in the page."""
    from tickets import presence

    statuses = presence.statuses(tenant_id=request.tenant.pk)
    return [{"user": user, "status": statuses.get(user.pk, "offline")} for user in users]


def _form_error(form: forms.Form) -> ValidationFailed:
    fields = {name: [str(error) for error in errors] for name, errors in form.errors.items()}
    return ValidationFailed(fields=fields)
