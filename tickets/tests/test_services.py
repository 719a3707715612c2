"""Ticket actions: state changes, role rules, history and real-time events after commit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from config.errors import NotFound
from crm.tests.factories import TagFactory
from tenants.context import tenant_context
from tickets import selectors, services
from tickets.exceptions import (
    TicketActiveExists,
    TicketAlreadyTaken,
    TicketClosed,
    TransferTargetRequired,
    WhatsAppWindowClosed,
)
from tickets.models import Message, Ticket, TicketEvent
from tickets.templating import render
from tickets.tests.factories import MessageFactory, QueueFactory, QuickReplyFactory, TicketFactory
from whatsapp.choices import DeliveryStatus
from whatsapp.tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_tenant(tenant):
    with tenant_context(tenant):
        yield tenant


@pytest.fixture
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT, name="Ana Agente")


@pytest.fixture
def other_agent(tenant, make_member):
    return make_member(tenant, Role.AGENT, name="Bruno")


def _events(ticket):
    return list(TicketEvent.objects.filter(ticket=ticket).values_list("type", "actor_id"))


def _open_ticket(**kwargs):
    return TicketFactory(last_inbound_at=timezone.now() - timedelta(minutes=5), **kwargs)


# --- visibility -------------------------------------------------------------------------


def test_agents_see_their_queues_unqueued_pending_and_their_own_tickets(tenant, agent, other_agent):
    mine_queue, other_queue = QueueFactory(), QueueFactory()
    mine_queue.members.add(agent)
    visible = {
        TicketFactory(status=Ticket.Status.PENDING, queue=mine_queue).pk,
        TicketFactory(status=Ticket.Status.PENDING, queue=None).pk,
        TicketFactory(status=Ticket.Status.OPEN, assignee=agent, queue=other_queue).pk,
        TicketFactory(status=Ticket.Status.CLOSED, assignee=agent).pk,
    }
    TicketFactory(status=Ticket.Status.PENDING, queue=other_queue)
    TicketFactory(status=Ticket.Status.OPEN, assignee=other_agent, queue=mine_queue)
    TicketFactory(status=Ticket.Status.CLOSED, assignee=other_agent)
    mine_queue.members.add(other_agent)  # another member must not duplicate rows

    listed = [t.pk for t in selectors.ticket_list_for_user(user=agent, role=Role.AGENT)]
    assert sorted(listed) == sorted(visible)
    assert selectors.ticket_list_for_user(user=agent, role=Role.SUPERVISOR).count() == 7
    assert selectors.ticket_list_for_user(user=agent, role=Role.ADMIN).count() == 7


def test_another_tenants_ticket_is_not_found(other_tenant, admin_user):
    with tenant_context(other_tenant):
        foreign = TicketFactory(tenant=other_tenant)
    with pytest.raises(NotFound):
        selectors.ticket_get_for_user(ticket_id=foreign.pk, user=admin_user, role=Role.ADMIN)


# --- accept -------------------------------------------------------------------------------


def test_accept_opens_and_assigns_records_and_announces_after_commit(
    agent, django_capture_on_commit_callbacks, monkeypatch
):
    published = []
    monkeypatch.setattr("tickets.events.publish", lambda groups, type_, data: published.append((type_, groups)))
    ticket = TicketFactory(status=Ticket.Status.PENDING)
    ticket = services.ticket_accept(ticket=ticket, actor=agent)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee_id) == (Ticket.Status.OPEN, agent.pk)
    assert _events(ticket) == [(TicketEvent.Type.ACCEPTED, agent.pk)]
    (event,) = published
    assert event[0] == "ticket.updated"
    # the agents who saw it pending are told too, so their lists drop it
    assert f"tenant.{ticket.tenant_id}.agents" in event[1]
    assert f"tenant.{ticket.tenant_id}.user.{agent.pk}" in event[1]


def test_accept_publishes_only_after_commit(agent, django_capture_on_commit_callbacks):
    ticket = TicketFactory(status=Ticket.Status.PENDING)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.ticket_accept(ticket=ticket, actor=agent)
    assert len(callbacks) == 1


def test_accepting_a_ticket_someone_else_took_is_a_conflict(agent, other_agent):
    ticket = TicketFactory(status=Ticket.Status.PENDING)
    services.ticket_accept(ticket=ticket, actor=other_agent)
    with pytest.raises(TicketAlreadyTaken) as caught:
        services.ticket_accept(ticket=ticket, actor=agent)
    assert caught.value.code == "ticket_already_taken"
    assert caught.value.status_code == 409
    ticket.refresh_from_db()
    assert ticket.assignee_id == other_agent.pk
    assert TicketEvent.objects.count() == 1


def test_accepting_twice_is_idempotent(agent):
    ticket = TicketFactory(status=Ticket.Status.PENDING)
    services.ticket_accept(ticket=ticket, actor=agent)
    services.ticket_accept(ticket=ticket, actor=agent)
    assert TicketEvent.objects.count() == 1


def test_an_agent_cannot_accept_a_ticket_of_a_queue_they_are_not_in(agent):
    ticket = TicketFactory(status=Ticket.Status.PENDING, queue=QueueFactory())
    with pytest.raises(NotFound):
        services.ticket_accept(ticket=ticket, actor=agent)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING
    assert TicketEvent.objects.count() == 0


# --- transfer ---------------------------------------------------------------------------


def test_transfer_to_a_user_opens_it_assigned_to_them(agent, other_agent):
    ticket = TicketFactory(status=Ticket.Status.OPEN, assignee=agent)
    services.ticket_transfer(ticket=ticket, actor=agent, to_user=other_agent, note="Cliente VIP")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee_id) == (Ticket.Status.OPEN, other_agent.pk)
    event = TicketEvent.objects.get()
    assert event.type == TicketEvent.Type.TRANSFERRED
    assert event.actor_id == agent.pk
    assert event.data == {
        "from_user": agent.pk,
        "from_queue": None,
        "to_user": other_agent.pk,
        "to_queue": None,
        "note": "Cliente VIP",
    }


def test_transfer_to_a_queue_only_leaves_it_pending_and_unassigned(agent):
    queue = QueueFactory()
    ticket = TicketFactory(status=Ticket.Status.OPEN, assignee=agent)
    services.ticket_transfer(ticket=ticket, actor=agent, to_queue=queue)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee_id, ticket.queue_id) == (Ticket.Status.PENDING, None, queue.pk)


def test_transfer_needs_a_target_and_a_member(agent, other_tenant, make_member):
    ticket = TicketFactory(status=Ticket.Status.OPEN, assignee=agent)
    with pytest.raises(TransferTargetRequired):
        services.ticket_transfer(ticket=ticket, actor=agent)
    with tenant_context(other_tenant):
        stranger = make_member(other_tenant, Role.AGENT)
    with pytest.raises(Exception) as caught:
        services.ticket_transfer(ticket=ticket, actor=agent, to_user=stranger)
    assert caught.value.code == "not_a_member"
    ticket.refresh_from_db()
    assert ticket.assignee_id == agent.pk
    assert TicketEvent.objects.count() == 0


def test_an_agent_cannot_transfer_someone_elses_ticket(agent, other_agent):
    ticket = TicketFactory(status=Ticket.Status.OPEN, assignee=other_agent)
    with pytest.raises(NotFound):
        services.ticket_transfer(ticket=ticket, actor=agent, to_user=agent)


def test_a_supervisor_may_transfer_any_ticket(supervisor_user, agent, other_agent):
    ticket = TicketFactory(status=Ticket.Status.OPEN, assignee=other_agent)
    services.ticket_transfer(ticket=ticket, actor=supervisor_user, to_user=agent)
    ticket.refresh_from_db()
    assert ticket.assignee_id == agent.pk


# --- close and reopen ----------------------------------------------------------------------


def test_close_sends_the_farewell_and_the_rating_request(tenant, agent, django_capture_on_commit_callbacks):
    tenant.rating_enabled = True
    tenant.save()
    connection = ConnectionFactory(farewell_message="Obrigado, {{name}}! Protocolo {{protocol}}.")
    ticket = _open_ticket(status=Ticket.Status.OPEN, assignee=agent, connection=connection, protocol=4242)
    with django_capture_on_commit_callbacks(execute=False):
        services.ticket_close(ticket=ticket, actor=agent)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED
    assert ticket.closed_at is not None
    assert ticket.awaiting_rating is True
    texts = list(Message.objects.filter(ticket=ticket).order_by("id").values_list("text", "status", "sender_type"))
    assert texts[0] == (f"Obrigado, {ticket.contact.name}! Protocolo 4242.", DeliveryStatus.PENDING, "system")
    assert "1" in texts[1][0] and "5" in texts[1][0]
    event = TicketEvent.objects.get()
    assert (event.type, event.actor_id, event.data["sent"]) == ("closed", agent.pk, ["farewell", "rating_request"])


def test_close_outside_the_window_sends_nothing(agent):
    connection = ConnectionFactory(farewell_message="Tchau")
    ticket = TicketFactory(status=Ticket.Status.OPEN, assignee=agent, connection=connection, last_inbound_at=None)
    services.ticket_close(ticket=ticket, actor=agent)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED
    assert Message.objects.count() == 0


def test_reopen_assigns_to_the_actor_and_clears_closed_at(agent):
    ticket = TicketFactory(status=Ticket.Status.CLOSED, assignee=agent, closed_at=timezone.now())
    services.ticket_reopen(ticket=ticket, actor=agent)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee_id, ticket.closed_at) == (Ticket.Status.OPEN, agent.pk, None)
    assert _events(ticket) == [("reopened", agent.pk)]


def test_reopen_conflicts_with_a_newer_active_ticket(agent):
    closed = TicketFactory(status=Ticket.Status.CLOSED, assignee=agent)
    TicketFactory(status=Ticket.Status.PENDING, contact=closed.contact, connection=closed.connection)
    with pytest.raises(TicketActiveExists):
        services.ticket_reopen(ticket=closed, actor=agent)
    closed.refresh_from_db()
    assert closed.status == Ticket.Status.CLOSED


# --- read, priority, tags -------------------------------------------------------------------


def test_mark_read_zeroes_the_counter_and_tells_whatsapp_later(agent, django_capture_on_commit_callbacks, monkeypatch):
    calls = []
    monkeypatch.setattr("tickets.services.ticket_notify_read", lambda *, ticket_id: calls.append(ticket_id))
    ticket = TicketFactory(status=Ticket.Status.OPEN, assignee=agent, unread_count=3)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_mark_read(ticket=ticket, actor=agent)
    ticket.refresh_from_db()
    assert ticket.unread_count == 0
    assert calls == [ticket.pk]


def test_priority_and_tags_are_recorded(agent):
    ticket = TicketFactory(status=Ticket.Status.OPEN, assignee=agent)
    vip, late = TagFactory(name="vip"), TagFactory(name="atraso")
    services.ticket_set_priority(ticket=ticket, actor=agent, priority=Ticket.Priority.URGENT)
    services.ticket_tag(ticket=ticket, actor=agent, tag=vip)
    services.ticket_set_tags(ticket=ticket, actor=agent, add=[late, vip])
    services.ticket_untag(ticket=ticket, actor=agent, tag=vip)
    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.URGENT
    assert list(ticket.tags.values_list("name", flat=True)) == ["atraso"]
    assert [t for t, _ in _events(ticket)] == ["priority_changed", "tagged", "tagged", "untagged"]
    assert TicketEvent.objects.filter(type="priority_changed").get().data == {"from": "normal", "to": "urgent"}


# --- message_send -----------------------------------------------------------------------------


def test_send_stores_pending_updates_the_ticket_and_enqueues_on_commit(
    agent, django_capture_on_commit_callbacks, monkeypatch
):
    enqueued = []
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: enqueued.append(kw))
    ticket = _open_ticket(status=Ticket.Status.OPEN, assignee=agent)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = services.message_send(ticket=ticket, author=agent, text="Olá! Como posso ajudar?")
    assert enqueued == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert enqueued == [{"message_id": message.pk, "tenant_id": ticket.tenant_id}]
    message.refresh_from_db()
    assert (message.status, message.sender_type, message.direction, message.author_id) == (
        DeliveryStatus.PENDING, "agent", "outbound", agent.pk,
    )  # fmt: skip
    ticket.refresh_from_db()
    assert ticket.last_message_preview == "Olá! Como posso ajudar?"
    assert ticket.first_response_at == message.sent_at
    assert ticket.last_message_at == message.sent_at


def test_internal_notes_are_stored_and_never_sent(agent, django_capture_on_commit_callbacks, monkeypatch):
    enqueued = []
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: enqueued.append(kw))
    ticket = TicketFactory(status=Ticket.Status.OPEN, assignee=agent, last_inbound_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        note = services.message_send(ticket=ticket, author=agent, text="cliente irritado", internal_note=True)
    assert note.is_internal_note is True
    assert note.status == ""
    assert enqueued == []
    ticket.refresh_from_db()
    assert ticket.first_response_at is None


def test_the_24_hour_window_blocks_free_text_but_not_templates(agent, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: None)
    ticket = TicketFactory(
        status=Ticket.Status.OPEN, assignee=agent, last_inbound_at=timezone.now() - timedelta(hours=24, minutes=1)
    )
    with pytest.raises(WhatsAppWindowClosed) as caught:
        services.message_send(ticket=ticket, author=agent, text="Oi?")
    assert caught.value.code == "whatsapp_window_closed"
    assert "more than 24 hours" in str(caught.value.detail)
    assert "template" in str(caught.value.detail)
    assert Message.objects.count() == 0

    never = TicketFactory(status=Ticket.Status.OPEN, assignee=agent, last_inbound_at=None)
    with pytest.raises(WhatsAppWindowClosed):
        services.message_send(ticket=never, author=agent, text="Oi?")

    message = services.message_send(ticket=ticket, author=agent, template={"name": "retomar", "language": "pt_BR"})
    assert message.payload == {"template": {"name": "retomar", "language": "pt_BR"}}


def test_inside_the_window_and_on_evolution_free_text_is_allowed(agent, monkeypatch):
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: None)
    inside = TicketFactory(
        status=Ticket.Status.OPEN, assignee=agent, last_inbound_at=timezone.now() - timedelta(hours=23, minutes=59)
    )
    services.message_send(ticket=inside, author=agent, text="Ainda dá")
    evolution = TicketFactory(
        status=Ticket.Status.OPEN, assignee=agent, last_inbound_at=None, connection=ConnectionFactory(evolution=True)
    )
    services.message_send(ticket=evolution, author=agent, text="Sem janela")
    assert Message.objects.count() == 2


def test_quick_replies_fill_variables_and_keep_unknown_ones(agent, monkeypatch):
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: None)
    QuickReplyFactory(shortcut="oi", text="Olá {{name}}, sou {{agent}} (protocolo {{protocol}}) {{cupom}}")
    ticket = _open_ticket(status=Ticket.Status.OPEN, assignee=agent, protocol=77)
    message = services.message_send(ticket=ticket, author=agent, text="/oi")
    assert message.text == f"Olá {ticket.contact.name}, sou Ana Agente (protocolo 77) {{{{cupom}}}}"
    assert render("{{ name }} {{x}}", {"name": "Ana"}) == "Ana {{x}}"


def test_an_agent_cannot_write_on_a_ticket_they_cannot_see_or_a_closed_one(agent, other_agent):
    theirs = _open_ticket(status=Ticket.Status.OPEN, assignee=other_agent)
    with pytest.raises(NotFound):
        services.message_send(ticket=theirs, author=agent, text="Oi")
    closed = _open_ticket(status=Ticket.Status.CLOSED, assignee=agent)
    with pytest.raises(TicketClosed):
        services.message_send(ticket=closed, author=agent, text="Oi")
    assert Message.objects.count() == 0


def test_reply_to_quotes_the_provider_id(agent, monkeypatch):
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: None)
    ticket = _open_ticket(status=Ticket.Status.OPEN, assignee=agent)
    inbound = MessageFactory(ticket=ticket, provider_message_id="wamid.QUOTED")
    message = services.message_send(ticket=ticket, author=agent, text="Sim", reply_to=inbound)
    assert (message.quoted_id, message.quoted_provider_id) == (inbound.pk, "wamid.QUOTED")
