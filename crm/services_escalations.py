"""Escalations: an agent asks the supervisors for help with a ticket.

A new escalation is offered to the least busy supervisor — the fewest escalations open or taken —
preferring those online now (tickets.presence); ties go to the supervisor who joined first. Any
supervisor (or admin) may take it; it ends resolved, with a note.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from config.errors import NotFound
from crm import events, selectors_sales
from crm.exceptions import EscalationAlreadyTaken, EscalationExists, EscalationResolved
from crm.models import Escalation
from tenants.models import Tenant
from tickets import presence


def supervisor_pick(*, tenant: Tenant) -> int | None:
    """The user id of the supervisor to offer a new escalation to (None: the tenant has none)."""
    loads = selectors_sales.supervisor_workloads(tenant=tenant)
    if not loads:
        return None
    online = presence.online_user_ids(tenant_id=tenant.pk) & set(loads)
    candidates = online or set(loads)
    return min(candidates, key=lambda user_id: (loads[user_id], user_id))


def escalation_create(*, ticket, actor: User, reason: str, priority: str = Escalation.Priority.NORMAL) -> Escalation:
    """`actor` must see the ticket (else it is a 404 for them); one active escalation per ticket."""
    from tickets import selectors as ticket_selectors

    role = ticket_selectors.role_of(user=actor)
    if not ticket_selectors.ticket_is_visible(ticket=ticket, user=actor, role=role):
        raise NotFound()
    tenant = ticket.tenant
    if Escalation.objects.filter(ticket=ticket, status__in=Escalation.ACTIVE_STATUSES).exists():
        raise EscalationExists()
    try:
        with transaction.atomic():
            escalation = Escalation.objects.create(
                tenant=tenant,
                ticket=ticket,
                reason=reason.strip(),
                priority=priority,
                raised_by=actor,
                assigned_to_id=supervisor_pick(tenant=tenant),
            )
            escalation = _refreshed(escalation)
            events.escalation_event(escalation, "escalation.created")
    except IntegrityError:  # escalated meanwhile by someone else
        raise EscalationExists() from None
    return escalation


def _refreshed(escalation: Escalation) -> Escalation:
    return Escalation.objects.select_related("ticket__contact", "raised_by", "assigned_to", "resolved_by").get(
        pk=escalation.pk
    )


def _locked(escalation: Escalation) -> Escalation:
    return Escalation.objects.select_for_update().get(pk=escalation.pk)


def escalation_take(*, escalation: Escalation, actor: User) -> Escalation:
    """A supervisor takes it (it may have been offered to another one, who has not taken it)."""
    with transaction.atomic():
        escalation = _locked(escalation)
        if escalation.status == Escalation.Status.RESOLVED:
            raise EscalationResolved()
        if escalation.status == Escalation.Status.TAKEN:
            if escalation.assigned_to_id == actor.pk:
                return _refreshed(escalation)
            raise EscalationAlreadyTaken()
        escalation.status, escalation.assigned_to, escalation.taken_at = (
            Escalation.Status.TAKEN,
            actor,
            timezone.now(),
        )
        escalation.save(update_fields=["status", "assigned_to", "taken_at"])
        escalation = _refreshed(escalation)
        events.escalation_event(escalation, "escalation.updated")
        return escalation


def escalation_resolve(*, escalation: Escalation, actor: User, note: str = "") -> Escalation:
    with transaction.atomic():
        escalation = _locked(escalation)
        if escalation.status == Escalation.Status.RESOLVED:
            raise EscalationResolved()
        if escalation.assigned_to_id is None or escalation.status == Escalation.Status.OPEN:
            escalation.assigned_to = actor
        escalation.status = Escalation.Status.RESOLVED
        escalation.resolved_by, escalation.resolved_at = actor, timezone.now()
        escalation.resolution_note = note.strip()
        escalation.save(update_fields=["status", "assigned_to", "resolved_by", "resolved_at", "resolution_note"])
        escalation = _refreshed(escalation)
        events.escalation_event(escalation, "escalation.updated")
        return escalation
