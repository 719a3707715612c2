"""The conversation pane: timeline, header, older pages, one bubble, media, sending, quick replies."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.http import FileResponse, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from rest_framework.views import APIView

from accounts.authentication import TenantJWTAuthentication
from accounts.permissions import IsTenantMember
from config.errors import NotFound, ValidationFailed
from crm import selectors as crm_selectors
from flows import selectors as flow_selectors
from flows.history import trace_text
from tickets import selectors, services
from tickets.models import Message, Ticket, TicketEvent
from tickets.templating import render as render_template_text
from tickets.templating import template_variables
from tickets.views.base import (
    _changed,
    _day_label,
    _form_error,
    _targets,
    _visible_ticket,
    _with_presence,
    inbox_view,
)

# Media the browser may show inline; anything else is always downloaded (never rendered as a page).
INLINE_MEDIA_PREFIXES = ("image/", "audio/", "video/")
INLINE_MEDIA_EXCLUDED = {"image/svg+xml"}
# The latest flow nodes shown on a page of the conversation (a chatty flow cannot flood it).
TRACES_PER_PAGE = 200


def _event_text(event: TicketEvent, users: dict, queues: dict) -> str:
    actor = str(event.actor) if event.actor else _("Prosa")
    data = event.data or {}
    kind = TicketEvent.Type
    if event.type == kind.TRANSFERRED:
        target = " / ".join(
            str(name) for name in (queues.get(data.get("to_queue")), users.get(data.get("to_user"))) if name is not None
        )
        text = _("%(actor)s transferred the ticket to %(target)s") % {"actor": actor, "target": target or "?"}
        if data.get("note"):
            text += f" — “{data['note']}”"
        return text
    if event.type == kind.PRIORITY_CHANGED:
        to = dict(Ticket.Priority.choices).get(data.get("to"), data.get("to"))
        return _("%(actor)s set the priority to %(priority)s") % {"actor": actor, "priority": to}
    if event.type in (kind.TAGGED, kind.UNTAGGED):
        template = (
            _("%(actor)s added the tag %(tag)s")
            if event.type == kind.TAGGED
            else _("%(actor)s removed the tag %(tag)s")
        )
        return template % {"actor": actor, "tag": data.get("name", "")}
    if event.type == kind.QUEUE_CHOSEN:
        return _("The customer chose the queue %(queue)s") % {"queue": queues.get(data.get("queue"), "")}
    if event.type == kind.RATED:
        return _("The customer rated the service %(rating)s/5") % {"rating": data.get("rating", "?")}
    texts = {
        kind.CREATED: _("Ticket opened"),
        kind.ACCEPTED: _("%(actor)s accepted the ticket"),
        kind.CLOSED: _("%(actor)s closed the ticket"),
        kind.REOPENED: _("%(actor)s reopened the ticket"),
        kind.AUTO_ASSIGNED: _("Assigned automatically to %(actor)s"),
    }
    text = texts.get(event.type, event.get_type_display())
    if event.type == kind.AUTO_ASSIGNED and data.get("to_user") in users:
        actor = str(users[data["to_user"]])
    return text % {"actor": actor} if "%(actor)s" in text else text


def _timeline(
    *, messages: list[Message], events: list[TicketEvent], users: dict, queues: dict, traces=()
) -> list[dict]:
    """Messages, history events and the bots' activity (consecutive nodes of one flow run grouped
    in one collapsible line) in time order, a day separator before each new local day."""
    entries = [(m.sent_at, 0, m.pk, {"kind": "message", "message": m}) for m in messages]
    entries += [
        (e.created_at, 1, e.pk, {"kind": "event", "event": e, "text": _event_text(e, users, queues)}) for e in events
    ]
    entries += [(t.at, 2, t.pk, {"kind": "trace", "trace": t}) for t in traces]
    entries.sort(key=lambda entry: entry[:3])
    today = timezone.localdate()
    items, current_day = [], None
    for moment, _order, _pk, item in entries:
        day = timezone.localtime(moment).date()
        if day != current_day:
            items.append({"kind": "day", "day": day.isoformat(), "label": _day_label(day, today)})
            current_day = day
        if item["kind"] == "trace":
            trace = item["trace"]
            last = items[-1]
            if last["kind"] != "bot_activity" or last["run_id"] != trace.run_id:
                last = {
                    "kind": "bot_activity",
                    "run_id": trace.run_id,
                    "flow": trace.run.flow.name,
                    "steps": [],
                    "first_id": trace.pk,
                }
                items.append(last)
            last["last_id"] = trace.pk
            last["steps"].append({"at": trace.at, "text": trace_text(trace), "node_id": trace.node_id})
            continue
        items.append(item)
    return items


def _page_items(request, ticket: Ticket, before: Message | None = None) -> dict:
    messages, has_older = selectors.inbox_message_page(ticket=ticket, before=before)
    since = messages[0].sent_at if (messages and has_older) else None
    until = before.sent_at if before is not None else None
    if before is not None and not messages:
        since = None
    events = list(selectors.inbox_ticket_events(ticket=ticket, since=since, until=until))
    traces = list(flow_selectors.ticket_trace_list(ticket=ticket, since=since, until=until).reverse()[:TRACES_PER_PAGE])
    traces.reverse()
    users, queues = _targets(request)
    items = _timeline(
        messages=messages,
        events=events,
        traces=traces,
        users={user.pk: user for user in users},
        queues={queue.pk: queue for queue in queues},
    )
    if before is None:  # the latest page: the inbox's live refresh asks for the traces after these
        trace_cursor = traces[-1].pk if traces else flow_selectors.ticket_trace_cursor(ticket=ticket)
    else:
        trace_cursor = None
    return {
        "items": items,
        "trace_cursor": trace_cursor,
        "has_older": has_older,
        "oldest_id": messages[0].pk if messages else None,
        "ticket": ticket,
        "users": users,
        "queues": queues,
        "transfer_users": _with_presence(request, users),
    }


def _approved_templates(ticket: Ticket) -> list:
    from whatsapp.models import MessageTemplate

    if ticket.connection_id is None:
        return []
    return list(
        MessageTemplate.objects.filter(connection_id=ticket.connection_id, status=MessageTemplate.Status.APPROVED)
        .order_by("name", "language")
        .values("name", "language")
    )


def _composer_context(request, ticket: Ticket) -> dict:
    media_types = sorted(services.MEDIA_TYPES)
    limit = min(max(services.MEDIA_MAX_BYTES.values()), settings.WHATSAPP_MEDIA_MAX_BYTES)
    limits = {
        mime: min(services.MEDIA_MAX_BYTES[kind], settings.WHATSAPP_MEDIA_MAX_BYTES)
        for mime, kind in services.MEDIA_TYPES.items()
    }
    window_open = services.window_is_open(ticket)
    return {
        "window_open": window_open,
        # Offered as suggestions for the template form, which shows only when the window is closed.
        "approved_templates": [] if window_open else _approved_templates(ticket),
        "is_mine": ticket.assignee_id == request.user.pk,
        "media_accept": ",".join(media_types),
        "media_limits_json": json.dumps(limits),
        "media_max_mb": limit // (1024 * 1024),
        "priorities": Ticket.Priority.choices,
    }


def _contact_context(request, ticket: Ticket) -> dict:
    tenant = request.tenant
    contact = ticket.contact
    definitions = list(crm_selectors.contact_field_list(tenant=tenant))
    fields = [
        {"definition": d, "value": (contact.custom_fields or {}).get(d.key, ""), "name": f"cf_{d.key}"}
        for d in definitions
    ]
    return {
        "contact": contact,
        "custom_fields": fields,
        "contact_tags": ", ".join(tag.name for tag in contact.tags.all()),
        "previous_tickets": selectors.inbox_previous_tickets(ticket=ticket, user=request.user, role=request.role),
    }


def _conversation_context(request, ticket: Ticket) -> dict:
    return {
        **_page_items(request, ticket),
        **_composer_context(request, ticket),
        **_contact_context(request, ticket),
        "all_tags": list(crm_selectors.tag_list(tenant=request.tenant)),
        "open_ticket_id": ticket.pk,
    }


def _render_conversation(request, ticket: Ticket, status: int = 200) -> HttpResponse:
    return render(request, "inbox/_conversation.html", _conversation_context(request, ticket), status=status)


@require_GET
@inbox_view
def conversation_header(request, ticket_id):
    """The header (status, actions) and, out of band, the composer's notices: after a live update."""
    ticket = _visible_ticket(request, ticket_id)
    context = {
        "ticket": ticket,
        "all_tags": list(crm_selectors.tag_list(tenant=request.tenant)),
        **_composer_context(request, ticket),
    }
    context["users"], context["queues"] = _targets(request)
    context["transfer_users"] = _with_presence(request, context["users"])
    return render(request, "inbox/_conversation_header.html", {**context, "oob": True})


@require_GET
@inbox_view
def messages_older(request, ticket_id):
    ticket = _visible_ticket(request, ticket_id)
    before = selectors.inbox_message_of_ticket(ticket=ticket, message_id=request.GET.get("before") or 0)
    if before is None:
        raise NotFound()
    return render(request, "inbox/_message_items.html", _page_items(request, ticket, before=before))


@require_GET
@inbox_view
def bot_activity(request, ticket_id):
    """The flow nodes run on the ticket after trace `after` (grouped per run, as in the timeline):
    the open conversation fetches them when the ticket or its messages change, so a flow's work
    shows without a reload."""
    ticket = _visible_ticket(request, ticket_id)
    cursor = request.GET.get("after", "")
    after = int(cursor) if cursor.isdigit() else 0
    traces = list(flow_selectors.ticket_trace_list(ticket=ticket, after_id=after)[:TRACES_PER_PAGE])
    items = _timeline(messages=[], events=[], traces=traces, users={}, queues={})
    return render(request, "inbox/_bot_activity_items.html", {"items": items})


@require_GET
@inbox_view
def message_partial(request, message_id):
    """One bubble (with its day separator, which the script drops if the day is already shown)."""
    message = selectors.inbox_message_get(message_id=message_id, user=request.user, role=request.role)
    day = timezone.localtime(message.sent_at).date()
    return render(
        request,
        "inbox/_message.html",
        {
            "message": message,
            "ticket": message.ticket,
            "day": {"day": day.isoformat(), "label": _day_label(day, timezone.localdate())},
        },
    )


def _media_response(request, message: Message) -> FileResponse:
    if not message.media_file:
        raise NotFound()
    mime = (message.media_mime or "application/octet-stream").split(";")[0].strip().lower()
    inline = mime.startswith(INLINE_MEDIA_PREFIXES) and mime not in INLINE_MEDIA_EXCLUDED
    try:
        handle = message.media_file.open("rb")
    except (FileNotFoundError, OSError):
        raise NotFound() from None
    response = FileResponse(
        handle,
        content_type=mime if inline else "application/octet-stream",
        as_attachment=not inline or request.GET.get("download") == "1",
        filename=message.media_filename or message.media_file.name.rsplit("/", 1)[-1],
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@inbox_view
def _message_media_for_session(request, message_id):
    message = selectors.inbox_message_get(message_id=message_id, user=request.user, role=request.role)
    return _media_response(request, message)


class _MessageMediaForToken(APIView):
    """The same file for API clients: the URL the API's `media_url` gives, with their JWT."""

    authentication_classes = [TenantJWTAuthentication]
    permission_classes = [IsTenantMember]

    def get(self, request, message_id):
        role = request.membership.role
        message = selectors.inbox_message_get(message_id=message_id, user=request.user, role=role)
        return _media_response(request, message)


_message_media_for_token = _MessageMediaForToken.as_view()


@require_GET
def message_media(request, message_id):
    """A message's stored file, to members who may see its ticket. Never a public storage URL.

    Browsers come with their session (the inbox's bubbles); API clients with `Authorization:
    Bearer`, and get the API's JSON errors."""
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return _message_media_for_token(request, message_id=message_id)
    return _message_media_for_session(request, message_id)


# --- composing ----------------------------------------------------------------------------------


class MessageForm(forms.Form):
    text = forms.CharField(required=False, max_length=4096, strip=True)
    file = forms.FileField(required=False)
    reply_to = forms.IntegerField(required=False)
    quick_reply = forms.IntegerField(required=False)
    internal_note = forms.BooleanField(required=False)
    template_name = forms.CharField(required=False, max_length=512)
    template_language = forms.CharField(required=False, max_length=16)


@require_POST
@inbox_view
def message_send(request, ticket_id):
    ticket = _visible_ticket(request, ticket_id)
    form = MessageForm(request.POST, request.FILES)
    if not form.is_valid():
        raise _form_error(form)
    data = form.cleaned_data
    reply_to = None
    if data["reply_to"]:
        reply_to = selectors.inbox_message_of_ticket(ticket=ticket, message_id=data["reply_to"])
        if reply_to is None:
            raise ValidationFailed(_("The message you are replying to is not in this conversation."))
    quick_reply = None
    if data["quick_reply"]:
        quick_reply = selectors.inbox_quick_reply_get(quick_reply_id=data["quick_reply"])
    template = None
    if data["template_name"]:
        template = {"name": data["template_name"].strip(), "language": data["template_language"].strip() or "pt_BR"}
    message = services.message_send(
        ticket=ticket,
        author=request.user,
        text=data["text"],
        media=data["file"],
        reply_to=reply_to,
        quick_reply=quick_reply,
        template=template,
        internal_note=data["internal_note"],
    )
    message = selectors.inbox_message_get(message_id=message.pk, user=request.user, role=request.role)
    day = timezone.localtime(message.sent_at).date()
    context = {
        "message": message,
        "ticket": ticket,
        "day": {"day": day.isoformat(), "label": _day_label(day, timezone.localdate())},
    }
    return _changed(render(request, "inbox/_message.html", context, status=201), ticket.pk)


@require_GET
@inbox_view
def quick_replies(request, ticket_id):
    """Quick replies matching what follows the `/`, their variables filled for this ticket."""
    ticket = _visible_ticket(request, ticket_id)
    variables = template_variables(ticket=ticket, agent=request.user)
    replies = [
        {"reply": reply, "text": render_template_text(reply.text, variables)}
        for reply in selectors.inbox_quick_replies(query=request.GET.get("q", ""))
    ]
    return render(request, "inbox/_quick_replies.html", {"replies": replies})
