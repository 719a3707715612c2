"""Ticket actions (accept, transfer, close, reopen, read, priority, tags) and contact edits."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from config.errors import NotFound, ValidationFailed
from crm import selectors as crm_selectors
from crm import services as crm_services
from tickets import selectors, services
from tickets.models import Ticket
from tickets.views.base import _changed, _form_error, _targets, _visible_ticket, inbox_view
from tickets.views.conversation import _contact_context, _render_conversation

# --- ticket actions -----------------------------------------------------------------------------


def _after_action(request, ticket_id: int) -> HttpResponse:
    """The conversation again, or a word that it left this user's inbox (a transfer, say)."""
    try:
        ticket = _visible_ticket(request, ticket_id)
    except NotFound:
        response = render(request, "inbox/_conversation_gone.html", {})
    else:
        response = _render_conversation(request, ticket)
    return _changed(response, ticket_id)


@require_POST
@inbox_view
def ticket_accept(request, ticket_id):
    ticket = selectors.inbox_ticket_for_action(ticket_id=ticket_id, user=request.user, role=request.role)
    services.ticket_accept(ticket=ticket, actor=request.user)
    return _after_action(request, ticket.pk)


class TransferForm(forms.Form):
    to_user = forms.IntegerField(required=False)
    to_queue = forms.IntegerField(required=False)
    note = forms.CharField(required=False, max_length=1000)


@require_POST
@inbox_view
def ticket_transfer(request, ticket_id):
    ticket = _visible_ticket(request, ticket_id)
    form = TransferForm(request.POST)
    if not form.is_valid():
        raise _form_error(form)
    users, queues = _targets(request)
    data = form.cleaned_data
    to_user = next((user for user in users if user.pk == data["to_user"]), None)
    to_queue = next((queue for queue in queues if queue.pk == data["to_queue"]), None)
    if data["to_user"] and to_user is None:
        raise ValidationFailed(_("This person is not a member of the workspace."))
    if data["to_queue"] and to_queue is None:
        raise ValidationFailed(_("There is no such queue."))
    services.ticket_transfer(ticket=ticket, actor=request.user, to_user=to_user, to_queue=to_queue, note=data["note"])
    return _after_action(request, ticket.pk)


@require_POST
@inbox_view
def ticket_close(request, ticket_id):
    ticket = _visible_ticket(request, ticket_id)
    services.ticket_close(ticket=ticket, actor=request.user, send_farewell=request.POST.get("send_farewell") == "on")
    return _after_action(request, ticket.pk)


@require_POST
@inbox_view
def ticket_reopen(request, ticket_id):
    ticket = _visible_ticket(request, ticket_id)
    services.ticket_reopen(ticket=ticket, actor=request.user)
    return _after_action(request, ticket.pk)


@require_POST
@inbox_view
def ticket_read(request, ticket_id):
    ticket = _visible_ticket(request, ticket_id)
    services.ticket_mark_read(ticket=ticket, actor=request.user)
    return _changed(HttpResponse(status=204), ticket.pk)


@require_POST
@inbox_view
def ticket_priority(request, ticket_id):
    ticket = _visible_ticket(request, ticket_id)
    priority = request.POST.get("priority", "")
    if priority not in Ticket.Priority.values:
        raise ValidationFailed(_("Choose one of the priorities."))
    services.ticket_set_priority(ticket=ticket, actor=request.user, priority=priority)
    return _after_action(request, ticket.pk)


@require_POST
@inbox_view
def ticket_tags(request, ticket_id):
    """`add` (a tag id) and/or `remove` (a tag id): tags of this tenant only."""
    ticket = _visible_ticket(request, ticket_id)
    tags = {tag.pk: tag for tag in crm_selectors.tag_list(tenant=request.tenant)}

    def pick(name):
        values = [value for value in request.POST.getlist(name) if value]
        if any(not value.isdigit() or int(value) not in tags for value in values):
            raise ValidationFailed(_("There is no such tag."))
        return [tags[int(value)] for value in values]

    services.ticket_set_tags(ticket=ticket, actor=request.user, add=pick("add"), remove=pick("remove"))
    return _after_action(request, ticket.pk)


# --- the contact panel ----------------------------------------------------------------------------


@require_POST
@inbox_view
def contact_update(request, ticket_id):
    """Edits the contact of a ticket the user sees: name, email, notes, tags, custom fields."""
    ticket = _visible_ticket(request, ticket_id)
    changes = {}
    for field in ("name", "email", "notes"):
        if field in request.POST:
            changes[field] = request.POST[field].strip()
    if "tags" in request.POST:
        changes["tags"] = [name.strip() for name in request.POST["tags"].split(",") if name.strip()]
    definitions = crm_selectors.contact_field_list(tenant=request.tenant)
    custom = {d.key: request.POST.get(f"cf_{d.key}", "") for d in definitions if f"cf_{d.key}" in request.POST}
    for d in definitions:
        if d.field_type == d.FieldType.BOOLEAN and f"cf_{d.key}__present" in request.POST:
            custom[d.key] = "true" if request.POST.get(f"cf_{d.key}") == "on" else "false"
    if custom:
        changes["custom_fields"] = {**(ticket.contact.custom_fields or {}), **custom}
    contact = crm_services.contact_update(contact=ticket.contact, **changes)
    ticket.contact = contact
    context = {**_contact_context(request, ticket), "ticket": ticket, "saved": True}
    return _changed(render(request, "inbox/_contact.html", context), ticket.pk)
