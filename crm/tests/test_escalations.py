"""Escalations: distribution to the least busy supervisor (online ones first), take, resolve."""

import pytest

from accounts.models import Role
from config.errors import NotFound
from crm import services_escalations
from crm.exceptions import EscalationAlreadyTaken, EscalationExists, EscalationResolved
from crm.models import Escalation
from crm.tests.factories import EscalationFactory
from tenants.context import tenant_context
from tickets import presence
from tickets.models import Ticket
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_tenant(tenant):
    with tenant_context(tenant):
        yield tenant


@pytest.fixture
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT)


def _ticket(tenant, agent):
    return TicketFactory(tenant=tenant, status=Ticket.Status.OPEN, assignee=agent)


def _online(tenant, user):
    presence.socket_connected(tenant_id=tenant.pk, user_id=user.pk, socket_id=f"s{user.pk}")


def test_it_goes_to_the_supervisor_with_the_fewest_active_escalations(tenant, agent, make_member):
    busy = make_member(tenant, Role.SUPERVISOR)
    free = make_member(tenant, Role.SUPERVISOR)
    EscalationFactory(tenant=tenant, assigned_to=busy, status=Escalation.Status.TAKEN)
    EscalationFactory(tenant=tenant, assigned_to=free, status=Escalation.Status.RESOLVED)  # not counted
    escalation = services_escalations.escalation_create(
        ticket=_ticket(tenant, agent), actor=agent, reason="Cliente quer falar com gerente", priority="high"
    )
    assert (escalation.assigned_to_id, escalation.status, escalation.priority) == (free.pk, "open", "high")


def test_online_supervisors_come_first(tenant, agent, make_member):
    offline_idle = make_member(tenant, Role.SUPERVISOR)
    online_busy = make_member(tenant, Role.SUPERVISOR)
    EscalationFactory(tenant=tenant, assigned_to=online_busy)
    _online(tenant, online_busy)
    escalation = services_escalations.escalation_create(ticket=_ticket(tenant, agent), actor=agent, reason="Ajuda")
    assert escalation.assigned_to_id == online_busy.pk
    assert offline_idle.pk != online_busy.pk


def test_without_supervisors_it_waits_unassigned(tenant, agent, admin_user):
    escalation = services_escalations.escalation_create(ticket=_ticket(tenant, agent), actor=agent, reason="Ajuda")
    assert escalation.assigned_to_id is None


def test_one_active_escalation_per_ticket_and_only_on_visible_tickets(tenant, agent, make_member):
    ticket = _ticket(tenant, agent)
    services_escalations.escalation_create(ticket=ticket, actor=agent, reason="Ajuda")
    with pytest.raises(EscalationExists):
        services_escalations.escalation_create(ticket=ticket, actor=agent, reason="De novo")
    stranger = make_member(tenant, Role.AGENT)
    with pytest.raises(NotFound):
        services_escalations.escalation_create(ticket=_ticket(tenant, agent), actor=stranger, reason="Não é meu")
    assert Escalation.objects.count() == 1


def test_take_and_resolve_tell_the_staff_and_the_agent(tenant, agent, make_member, published):
    first = make_member(tenant, Role.SUPERVISOR)
    second = make_member(tenant, Role.SUPERVISOR)
    escalation = services_escalations.escalation_create(ticket=_ticket(tenant, agent), actor=agent, reason="Ajuda")
    taken = services_escalations.escalation_take(escalation=escalation, actor=second)
    assert (taken.status, taken.assigned_to_id, taken.taken_at is not None) == ("taken", second.pk, True)
    with pytest.raises(EscalationAlreadyTaken):
        services_escalations.escalation_take(escalation=escalation, actor=first)
    resolved = services_escalations.escalation_resolve(escalation=escalation, actor=second, note="Desconto aplicado")
    assert (resolved.status, resolved.resolved_by_id, resolved.resolution_note) == (
        "resolved",
        second.pk,
        "Desconto aplicado",
    )
    with pytest.raises(EscalationResolved):
        services_escalations.escalation_take(escalation=escalation, actor=first)
    assert [event_type for _g, event_type, _d in published] == [
        "escalation.created",
        "escalation.updated",
        "escalation.updated",
    ]
    groups, _type, _data = published[-1]
    assert groups == sorted(
        [f"tenant.{tenant.pk}.staff", f"tenant.{tenant.pk}.user.{agent.pk}", f"tenant.{tenant.pk}.user.{second.pk}"]
    )
