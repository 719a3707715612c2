# ruff: noqa: F401, F811 — pytest fixtures imported from whatsapp.tests.inbound_fixtures
"""Conversation routing through the real inbound path: signed webhooks in, automatic messages out
to the fake Graph API (Celery eager), tickets routed and assigned."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Role
from tenants.context import tenant_context
from tenants.hours import business_hours_validate, is_open
from tickets import presence, services
from tickets.models import Message, Queue, Ticket, TicketEvent
from tickets.routing import rating_from_text, waiting_tickets_assign
from tickets.tests.factories import QueueFactory, TicketFactory
from whatsapp.management.commands.simulate_inbound import cloud_message_body
from whatsapp.tests.conftest import fake_graph
from whatsapp.tests.inbound_fixtures import cloud_connection, deliver

CUSTOMER = "5511987650001"


@pytest.fixture
def say(cloud_connection, deliver):
    """say("text", wa_id=...) → the customer's message arrives through the signed webhook."""

    def _say(text: str, wa_id: str = CUSTOMER, name: str = "Maria Souza"):
        body = cloud_message_body(
            connection=cloud_connection, wa_id=wa_id, name=name, message={"type": "text", "text": {"body": text}}
        )
        deliver(cloud_connection, body)

    return _say


def _ticket(tenant, wa_id: str = CUSTOMER) -> Ticket:
    with tenant_context(tenant):
        return Ticket.objects.select_related("queue", "assignee").filter(contact__wa_id=wa_id).latest("id")


def _automatic_texts(tenant) -> list[str]:
    with tenant_context(tenant):
        return list(
            Message.objects.filter(sender_type=Message.SenderType.SYSTEM).order_by("id").values_list("text", flat=True)
        )


def _online(tenant, *users):
    for user in users:
        presence.socket_connected(tenant_id=tenant.pk, user_id=user.pk, socket_id=f"test-{user.pk}")


# --- pure rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rating"),
    [("5", 5), (" 1 ", 1), ("nota 4!", 4), ("3 ⭐", 3), ("10", None), ("1 2", None), ("obrigado", None), ("0", None)],
)
def test_rating_from_text(text, rating):
    assert rating_from_text(text) == rating


WEEKDAYS = {"mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]], "sat": [["22:00", "02:00"]]}


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 11, 30, 11, 0, tzinfo=UTC), True),  # Monday 08:00 in São Paulo (UTC-3)
        (datetime(2026, 11, 30, 10, 59, tzinfo=UTC), False),  # Monday 07:59
        (datetime(2026, 11, 30, 21, 0, tzinfo=UTC), False),  # Monday 18:00: the range's end is excluded
        (datetime(2026, 12, 2, 12, 0, tzinfo=UTC), False),  # Wednesday: not listed, closed
        (datetime(2026, 12, 6, 2, 0, tzinfo=UTC), True),  # Saturday 23:00
        (datetime(2026, 12, 6, 4, 30, tzinfo=UTC), True),  # Sunday 01:30, Saturday's overnight range
        (datetime(2026, 12, 6, 5, 0, tzinfo=UTC), False),  # Sunday 02:00
    ],
)
def test_business_hours_are_read_in_the_tenants_timezone(utc, expected):
    assert is_open(WEEKDAYS, "America/Sao_Paulo", utc) is expected


def test_no_schedule_is_always_open():
    assert is_open({}, "America/Sao_Paulo", timezone.now())


@pytest.mark.parametrize(
    "schedule", [[], {"monday": []}, {"mon": "08-18"}, {"mon": [["8h", "18h"]]}, {"mon": [["08:00"]]}]
)
def test_malformed_business_hours_are_refused_in_words(schedule):
    with pytest.raises(ValidationError) as error:
        business_hours_validate(schedule)
    assert error.value.messages[0]


def test_queue_business_hours_are_validated_by_the_api(tenant, admin_user, api_client):
    from accounts.services import tokens_issue

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=admin_user, tenant=tenant).access}")
    response = api_client.post(
        "/api/v1/queues/", {"name": "Vendas", "business_hours": {"mon": [["8h", "18h"]]}}, format="json"
    )
    assert response.status_code == 400
    assert "business_hours" in response.json()["fields"]


# --- greeting and the queue menu ------------------------------------------------------------


def test_a_new_ticket_is_greeted_once_by_name(tenant, cloud_connection, say, fake_graph):
    cloud_connection.greeting_message = "Olá {{name}}! Seu protocolo é {{protocol}}."
    cloud_connection.save()
    say("Bom dia")
    say("Alguém aí?")
    ticket = _ticket(tenant)
    assert _automatic_texts(tenant) == [f"Olá Maria Souza! Seu protocolo é {ticket.protocol}."]
    sent = [json.loads(r.body) for r in fake_graph.requests_to("POST", fake_graph.messages_path)]
    assert [body["text"]["body"] for body in sent] == [f"Olá Maria Souza! Seu protocolo é {ticket.protocol}."]
    with tenant_context(tenant):
        assert Message.objects.get(sender_type=Message.SenderType.SYSTEM).status == "sent"
    assert ticket.queue is None and ticket.status == Ticket.Status.PENDING


def test_the_only_queue_takes_the_ticket_with_its_own_greeting(tenant, cloud_connection, say):
    queue = QueueFactory(tenant=tenant, name="Atendimento", greeting_message="Fila de atendimento, aguarde.")
    say("Oi")
    ticket = _ticket(tenant)
    assert ticket.queue == queue
    assert _automatic_texts(tenant) == ["Fila de atendimento, aguarde."]


def test_the_connections_default_queue_skips_the_menu(tenant, cloud_connection, say):
    QueueFactory(tenant=tenant, name="Vendas", menu_order=1)
    support = QueueFactory(tenant=tenant, name="Suporte", menu_order=2)
    cloud_connection.default_queue = support
    cloud_connection.save()
    say("Oi")
    assert _ticket(tenant).queue == support
    assert _automatic_texts(tenant) == []


def test_with_several_queues_the_customer_picks_one_from_the_menu(tenant, cloud_connection, say):
    cloud_connection.greeting_message = "Bem-vindo à Loja Centro!"
    cloud_connection.save()
    QueueFactory(tenant=tenant, name="Vendas", menu_order=1)
    support = QueueFactory(tenant=tenant, name="Suporte", menu_order=2, greeting_message="Suporte técnico aqui.")
    say("Oi")
    first = _automatic_texts(tenant)
    assert len(first) == 1
    assert first[0].startswith("Bem-vindo à Loja Centro!\n\n")
    assert "*1* - Vendas" in first[0] and "*2* - Suporte" in first[0]
    assert _ticket(tenant).queue is None

    say("2")
    ticket = _ticket(tenant)
    assert ticket.queue == support
    assert _automatic_texts(tenant)[1:] == ["Suporte técnico aqui."]
    with tenant_context(tenant):
        chosen = TicketEvent.objects.get(ticket=ticket, type=TicketEvent.Type.QUEUE_CHOSEN)
    assert chosen.data == {"queue": support.pk, "how": "menu"}

    say("Meu pedido não chegou")  # the conversation goes on; no more menu
    assert len(_automatic_texts(tenant)) == 2


def test_a_queue_can_be_picked_by_its_name(tenant, cloud_connection, say):
    QueueFactory(tenant=tenant, name="Vendas", menu_order=1)
    support = QueueFactory(tenant=tenant, name="Suporte", menu_order=2)
    say("Oi")
    say(" suporte ")
    assert _ticket(tenant).queue == support


def test_invalid_answers_re_ask_then_fall_back_to_the_first_queue(tenant, cloud_connection, say):
    sales = QueueFactory(tenant=tenant, name="Vendas", menu_order=1)
    QueueFactory(tenant=tenant, name="Suporte", menu_order=2)
    say("Oi")
    say("7")
    say("quero falar com alguém")
    assert _ticket(tenant).queue is None
    texts = _automatic_texts(tenant)
    assert len(texts) == 3
    assert all(text.startswith("Sorry, that is not one of the options.") for text in texts[1:]) or all(
        text.startswith("Desculpe") for text in texts[1:]
    )
    say("???")
    ticket = _ticket(tenant)
    assert ticket.queue == sales
    with tenant_context(tenant):
        assert TicketEvent.objects.get(ticket=ticket, type=TicketEvent.Type.QUEUE_CHOSEN).data["how"] == "fallback"
    assert len(_automatic_texts(tenant)) == 4


def test_menu_and_messages_follow_the_tenants_language(tenant, cloud_connection, say):
    tenant.language = "en"
    tenant.save()
    QueueFactory(tenant=tenant, name="Sales", menu_order=1)
    QueueFactory(tenant=tenant, name="Support", menu_order=2)
    say("Hi")
    say("9")
    texts = _automatic_texts(tenant)
    assert texts[0].startswith("Please reply with the number of the option you want:")
    assert texts[1].startswith("Sorry, that is not one of the options.")


# --- business hours -----------------------------------------------------------------------------

CLOSED_ALL_WEEK = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def test_out_of_hours_the_notice_is_sent_once_per_ticket(tenant, cloud_connection, say):
    tenant.business_hours = CLOSED_ALL_WEEK
    tenant.save()
    cloud_connection.out_of_hours_message = "Estamos fechados. Atendemos de segunda a sexta, das 8h às 18h."
    cloud_connection.save()
    say("Oi")
    say("Tem alguém?")
    assert _automatic_texts(tenant) == ["Estamos fechados. Atendemos de segunda a sexta, das 8h às 18h."]
    assert _ticket(tenant).out_of_hours_notified


def test_inside_business_hours_there_is_no_notice(tenant, cloud_connection, say):
    tenant.business_hours = {day: [["00:00", "24:00"]] for day in CLOSED_ALL_WEEK}
    tenant.save()
    cloud_connection.out_of_hours_message = "Estamos fechados."
    cloud_connection.save()
    say("Oi")
    assert _automatic_texts(tenant) == []


def test_a_queues_own_hours_win_over_the_tenants(tenant, cloud_connection, say):
    tenant.business_hours = {}  # the tenant is always open…
    tenant.save()
    queue = QueueFactory(tenant=tenant, name="Plantão", business_hours=CLOSED_ALL_WEEK)  # …this queue never
    cloud_connection.default_queue = queue
    cloud_connection.out_of_hours_message = "Fora do horário."
    cloud_connection.save()
    say("Oi")
    assert _automatic_texts(tenant) == ["Fora do horário."]


# --- auto-assignment ------------------------------------------------------------------------


@pytest.fixture
def team(tenant, make_member):
    return [make_member(tenant, Role.AGENT, name=f"Agente {n}") for n in range(3)]


def _auto_queue(tenant, cloud_connection, members, strategy, **fields):
    queue = QueueFactory(tenant=tenant, name="Vendas", auto_assignment=strategy, **fields)
    queue.members.set(members)
    cloud_connection.default_queue = queue
    cloud_connection.save()
    return queue


def _busy_with(tenant, connection, user):
    """An open ticket of `user`, numbered far from the tenant's sequence."""
    busy = Ticket.all_tenants.filter(tenant=tenant).count()
    TicketFactory(tenant=tenant, connection=connection, status=Ticket.Status.OPEN, assignee=user, protocol=9000 + busy)


def test_round_robin_takes_turns_among_online_members(tenant, cloud_connection, say, team):
    _auto_queue(tenant, cloud_connection, team, Queue.AutoAssignment.ROUND_ROBIN)
    _online(tenant, *team)
    for n in range(4):
        say("Oi", wa_id=f"55119876500{n + 10}")
    assignees = [_ticket(tenant, f"55119876500{n + 10}").assignee for n in range(4)]
    ordered = sorted(team, key=lambda user: user.pk)
    assert assignees == [*ordered, ordered[0]]
    ticket = _ticket(tenant, "5511987650010")
    assert ticket.status == Ticket.Status.OPEN
    with tenant_context(tenant):
        event = TicketEvent.objects.get(ticket=ticket, type=TicketEvent.Type.AUTO_ASSIGNED)
    assert event.data["strategy"] == "round_robin"


def test_offline_and_away_members_are_skipped(tenant, cloud_connection, say, team):
    _auto_queue(tenant, cloud_connection, team, Queue.AutoAssignment.ROUND_ROBIN)
    _online(tenant, team[0], team[1])  # team[2] is offline
    presence.status_set(tenant_id=tenant.pk, user_id=team[0].pk, status="away")
    say("Oi", wa_id="5511987650010")
    say("Oi", wa_id="5511987650011")
    assert {_ticket(tenant, "5511987650010").assignee, _ticket(tenant, "5511987650011").assignee} == {team[1]}


def test_least_busy_picks_the_member_with_fewest_open_tickets(tenant, cloud_connection, say, team):
    _auto_queue(tenant, cloud_connection, team, Queue.AutoAssignment.LEAST_BUSY)
    _online(tenant, *team)
    for user, count in zip(team, (2, 0, 1), strict=True):
        for _ in range(count):
            _busy_with(tenant, cloud_connection, user)
    say("Oi")
    assert _ticket(tenant).assignee == team[1]


def test_the_per_agent_cap_leaves_the_ticket_waiting(tenant, cloud_connection, say, team):
    _auto_queue(tenant, cloud_connection, team[:1], Queue.AutoAssignment.ROUND_ROBIN, max_open_per_agent=1)
    _online(tenant, team[0])
    _busy_with(tenant, cloud_connection, team[0])
    say("Oi")
    ticket = _ticket(tenant)
    assert (ticket.status, ticket.assignee) == (Ticket.Status.PENDING, None)


def test_nobody_online_leaves_the_ticket_waiting_until_someone_arrives(tenant, cloud_connection, say, team):
    queue = _auto_queue(tenant, cloud_connection, team[:1], Queue.AutoAssignment.ROUND_ROBIN)
    say("Oi")
    assert _ticket(tenant).assignee is None
    _online(tenant, team[0])
    with tenant_context(tenant):
        assert waiting_tickets_assign() == 1
    ticket = _ticket(tenant)
    assert (ticket.status, ticket.assignee, ticket.queue) == (Ticket.Status.OPEN, team[0], queue)


def test_auto_assignment_off_never_assigns(tenant, cloud_connection, say, team):
    _auto_queue(tenant, cloud_connection, team, Queue.AutoAssignment.OFF)
    _online(tenant, *team)
    say("Oi")
    assert _ticket(tenant).assignee is None


def test_closing_a_ticket_offers_the_waiting_ones_to_the_freed_agent(
    tenant, cloud_connection, say, team, django_capture_on_commit_callbacks
):
    _auto_queue(tenant, cloud_connection, team[:1], Queue.AutoAssignment.ROUND_ROBIN, max_open_per_agent=1)
    _online(tenant, team[0])
    say("Oi", wa_id="5511987650010")
    say("Oi", wa_id="5511987650011")
    first, second = _ticket(tenant, "5511987650010"), _ticket(tenant, "5511987650011")
    assert (first.assignee, second.assignee) == (team[0], None)
    with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
        services.ticket_close(ticket=first, actor=team[0], send_farewell=False)
    assert _ticket(tenant, "5511987650011").assignee == team[0]


# --- rating and the reopen window ---------------------------------------------------------------


def _close(tenant, ticket, actor, django_capture_on_commit_callbacks):
    with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
        services.ticket_close(ticket=ticket, actor=actor, send_farewell=False)


def test_a_reply_to_the_rating_request_rates_the_closed_ticket(
    tenant, cloud_connection, say, supervisor_user, django_capture_on_commit_callbacks
):
    tenant.rating_enabled = True
    tenant.save()
    say("Oi")
    ticket = _ticket(tenant)
    _close(tenant, ticket, supervisor_user, django_capture_on_commit_callbacks)
    assert _ticket(tenant).awaiting_rating

    say("5")
    rated = _ticket(tenant)
    assert rated.pk == ticket.pk
    assert (rated.status, rated.rating, rated.awaiting_rating, rated.unread_count) == ("closed", 5, False, 0)
    with tenant_context(tenant):
        assert TicketEvent.objects.get(ticket=rated, type=TicketEvent.Type.RATED).data == {"rating": 5}
        assert Ticket.objects.count() == 1
    assert _automatic_texts(tenant)[-1] in ("Thank you for your rating!", "Obrigado pela sua avaliação!")

    say("Outra dúvida")  # no longer waiting for a rating: a new conversation
    with tenant_context(tenant):
        assert Ticket.objects.count() == 2


def test_a_reply_that_is_not_a_rating_opens_a_new_ticket(
    tenant, cloud_connection, say, supervisor_user, django_capture_on_commit_callbacks
):
    tenant.rating_enabled = True
    tenant.save()
    say("Oi")
    ticket = _ticket(tenant)
    _close(tenant, ticket, supervisor_user, django_capture_on_commit_callbacks)
    say("Esqueci de perguntar uma coisa")
    newest = _ticket(tenant)
    assert newest.pk != ticket.pk and newest.status == Ticket.Status.PENDING
    ticket.refresh_from_db()
    assert (ticket.rating, ticket.awaiting_rating) == (None, False)


def test_a_message_soon_after_closing_reopens_the_ticket_with_its_agent(
    tenant, cloud_connection, say, agent_user, django_capture_on_commit_callbacks
):
    tenant.reopen_window_minutes = 30
    tenant.save()
    say("Oi")
    ticket = _ticket(tenant)
    with tenant_context(tenant):
        services.ticket_accept(ticket=ticket, actor=agent_user)
    _close(tenant, ticket, agent_user, django_capture_on_commit_callbacks)
    say("Ah, mais uma coisa")
    reopened = _ticket(tenant)
    assert reopened.pk == ticket.pk
    assert (reopened.status, reopened.assignee, reopened.closed_at) == (Ticket.Status.OPEN, agent_user, None)
    with tenant_context(tenant):
        assert TicketEvent.objects.get(ticket=reopened, type=TicketEvent.Type.REOPENED).data == {"source": "customer"}


def test_after_the_reopen_window_a_new_ticket_opens(
    tenant, cloud_connection, say, agent_user, django_capture_on_commit_callbacks
):
    tenant.reopen_window_minutes = 30
    tenant.save()
    say("Oi")
    ticket = _ticket(tenant)
    _close(tenant, ticket, agent_user, django_capture_on_commit_callbacks)
    Ticket.all_tenants.filter(pk=ticket.pk).update(closed_at=timezone.now() - timedelta(minutes=31))
    say("Voltei")
    assert _ticket(tenant).pk != ticket.pk


# --- presence -------------------------------------------------------------------------------


def test_presence_counts_sockets_and_expires_silent_ones(tenant, agent_user, monkeypatch):
    assert presence.status_of(tenant_id=tenant.pk, user_id=agent_user.pk) == "offline"
    assert presence.socket_connected(tenant_id=tenant.pk, user_id=agent_user.pk, socket_id="tab-1") is True
    assert presence.socket_connected(tenant_id=tenant.pk, user_id=agent_user.pk, socket_id="tab-2") is False
    assert presence.socket_disconnected(tenant_id=tenant.pk, user_id=agent_user.pk, socket_id="tab-1") is False
    assert presence.status_of(tenant_id=tenant.pk, user_id=agent_user.pk) == "online"
    presence.status_set(tenant_id=tenant.pk, user_id=agent_user.pk, status="away")
    assert presence.statuses(tenant_id=tenant.pk) == {agent_user.pk: "away"}
    assert presence.online_user_ids(tenant_id=tenant.pk) == set()

    later = presence.time.time() + presence.SOCKET_TTL + 1
    monkeypatch.setattr(presence.time, "time", lambda: later)  # the tab stopped pinging
    assert presence.status_of(tenant_id=tenant.pk, user_id=agent_user.pk) == "offline"


def test_presence_is_per_tenant(tenant, other_tenant, agent_user):
    presence.socket_connected(tenant_id=tenant.pk, user_id=agent_user.pk, socket_id="tab")
    assert presence.statuses(tenant_id=other_tenant.pk) == {}


def test_presence_api_lists_members_and_sets_my_status(tenant, agent_user, supervisor_user, api_client):
    from accounts.services import tokens_issue

    _online(tenant, agent_user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=agent_user, tenant=tenant).access}")
    listed = api_client.get("/api/v1/presence/").json()
    assert [(row["user_id"], row["status"]) for row in listed] == [
        (agent_user.pk, "online"),
        (supervisor_user.pk, "offline"),
    ]
    response = api_client.post("/api/v1/presence/", {"status": "away"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "away"
    assert presence.status_of(tenant_id=tenant.pk, user_id=agent_user.pk) == "away"
    response = api_client.post("/api/v1/presence/", {"status": "busy"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
