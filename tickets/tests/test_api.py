"""The tickets API: role rules, filters, pagination, query budgets, actions, errors."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from crm.tests.factories import ContactFactory, TagFactory
from tenants.context import tenant_context
from tickets.models import Message, Queue, QuickReply, ScheduledMessage, Ticket
from tickets.tests.factories import (
    MessageFactory,
    QueueFactory,
    QuickReplyFactory,
    ScheduledMessageFactory,
    TicketFactory,
)

pytestmark = pytest.mark.django_db

TICKETS = "/api/v1/tickets"


@pytest.fixture(autouse=True)
def _no_delivery(monkeypatch):
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: None)


@pytest.fixture
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT, name="Ana")


@pytest.fixture
def as_agent(client_for, agent, tenant):
    return client_for(agent, tenant)


@pytest.fixture
def as_admin(client_for, admin_user, tenant):
    return client_for(admin_user, tenant)


def _ids(response):
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


# --- list ----------------------------------------------------------------------------------


def test_agents_list_only_what_they_may_see(as_agent, agent, tenant, make_member):
    queue = QueueFactory()
    queue.members.add(agent)
    visible = [
        TicketFactory(status="pending", queue=queue).pk,
        TicketFactory(status="pending", queue=None).pk,
        TicketFactory(status="open", assignee=agent).pk,
    ]
    TicketFactory(status="pending", queue=QueueFactory())
    TicketFactory(status="open", assignee=make_member(tenant, Role.AGENT))
    assert sorted(_ids(as_agent.get(TICKETS))) == sorted(visible)


def test_filters(as_admin, admin_user, tenant):
    queue, vip = QueueFactory(), TagFactory(name="vip")
    with_queue = TicketFactory(queue=queue, priority="high")
    mine = TicketFactory(status="open", assignee=admin_user)
    tagged = TicketFactory()
    tagged.tags.add(vip)
    maria = TicketFactory(contact=ContactFactory(name="Maria Souza", phone="5511955554444"))
    by_text = TicketFactory()
    MessageFactory(ticket=by_text, text="quero cancelar meu pedido")
    old = TicketFactory()
    Ticket.all_tenants.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))

    assert _ids(as_admin.get(TICKETS, {"queue": queue.pk})) == [with_queue.pk]
    assert _ids(as_admin.get(TICKETS, {"priority": "high"})) == [with_queue.pk]
    assert _ids(as_admin.get(TICKETS, {"assignee": "me"})) == [mine.pk]
    assert _ids(as_admin.get(TICKETS, {"assignee": admin_user.pk})) == [mine.pk]
    assert _ids(as_admin.get(TICKETS, {"status": "open"})) == [mine.pk]
    assert _ids(as_admin.get(TICKETS, {"tag": vip.pk})) == [tagged.pk]
    assert _ids(as_admin.get(TICKETS, {"q": "maria"})) == [maria.pk]
    assert _ids(as_admin.get(TICKETS, {"q": "55554444"})) == [maria.pk]
    assert _ids(as_admin.get(TICKETS, {"q": "CANCELAR"})) == [by_text.pk]
    assert _ids(as_admin.get(TICKETS, {"connection": maria.connection_id})) == [maria.pk]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert old.pk not in _ids(as_admin.get(TICKETS, {"updated_since": since}))


def test_ordered_by_latest_activity_and_paginated(as_admin):
    now = timezone.now()
    tickets = [TicketFactory(last_message_at=now - timedelta(minutes=i)) for i in range(5)]
    response = as_admin.get(TICKETS, {"page_size": 2})
    assert _ids(response) == [tickets[0].pk, tickets[1].pk]
    assert response.json()["count"] == 5
    assert _ids(as_admin.get(TICKETS, {"page_size": 2, "page": 3})) == [tickets[4].pk]


def test_the_list_costs_the_same_queries_whatever_the_page_size(as_admin, django_assert_num_queries):
    for _ in range(8):
        ticket = TicketFactory(assignee=None, queue=QueueFactory())
        ticket.tags.add(TagFactory())
        ticket.contact.tags.add(TagFactory())
    with CaptureQueriesContext(connection) as small:
        as_admin.get(TICKETS, {"page_size": 2})
    # auth (user, membership, revocation) + count + page + ticket tags + contact tags
    with django_assert_num_queries(len(small.captured_queries)):
        response = as_admin.get(TICKETS, {"page_size": 8})
    assert len(response.json()["results"]) == 8
    assert len(small.captured_queries) <= 8


# --- permission matrix ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "list_status", "queue_write", "quick_reply_write"),
    [
        ("anonymous", 401, 401, 401),
        ("agent", 200, 403, 403),
        ("supervisor", 200, 201, 201),
        ("admin", 200, 201, 201),
    ],
)
def test_permission_matrix(
    who, list_status, queue_write, quick_reply_write, tenant, make_member, client_for, api_client
):
    client = api_client if who == "anonymous" else client_for(make_member(tenant, Role(who)), tenant)
    assert client.get(TICKETS).status_code == list_status
    assert client.get("/api/v1/queues").status_code == list_status
    assert client.get("/api/v1/quick-replies").status_code == list_status
    assert client.get("/api/v1/scheduled-messages").status_code == list_status
    assert client.post("/api/v1/queues", {"name": f"Fila {who}"}, format="json").status_code == queue_write
    response = client.post("/api/v1/quick-replies", {"shortcut": f"oi-{who}", "text": "Oi"}, format="json")
    assert response.status_code == quick_reply_write


def test_another_tenants_ticket_is_a_404_with_the_error_shape(as_admin, other_tenant):
    foreign = TicketFactory(tenant=other_tenant, contact=ContactFactory(tenant=other_tenant))
    response = as_admin.post(f"{TICKETS}/{foreign.pk}/accept")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found.", "fields": {}}


# --- actions ---------------------------------------------------------------------------------


def test_accept_then_someone_else_gets_409(as_agent, agent, tenant, make_member, client_for):
    ticket = TicketFactory(status="pending")
    response = as_agent.post(f"{TICKETS}/{ticket.pk}/accept")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "open"
    assert response.json()["assignee"]["id"] == agent.pk
    late = client_for(make_member(tenant, Role.AGENT), tenant).post(f"{TICKETS}/{ticket.pk}/accept")
    assert late.status_code == 409
    assert late.json()["code"] == "ticket_already_taken"


def test_transfer_close_reopen_priority_tags_read(as_admin, admin_user, agent):
    ticket = TicketFactory(status="open", assignee=admin_user, unread_count=2)
    queue, tag = QueueFactory(), TagFactory()
    url = f"{TICKETS}/{ticket.pk}"

    response = as_admin.post(f"{url}/transfer", {"to_queue": queue.pk, "note": "fiscal"}, format="json")
    assert (response.json()["status"], response.json()["queue"]["id"], response.json()["assignee"]) == (
        "pending", queue.pk, None,
    )  # fmt: skip
    response = as_admin.post(f"{url}/transfer", {"to_user": agent.pk}, format="json")
    assert response.json()["assignee"]["id"] == agent.pk
    assert as_admin.post(f"{url}/transfer", {}, format="json").json()["code"] == "transfer_target_required"
    bad = as_admin.post(f"{url}/transfer", {"to_queue": 2_000_000_000}, format="json")
    assert (bad.status_code, list(bad.json()["fields"])) == (400, ["to_queue"])

    assert as_admin.post(f"{url}/priority", {"priority": "urgent"}, format="json").json()["priority"] == "urgent"
    assert as_admin.patch(url, {"priority": "low"}, format="json").json()["priority"] == "low"
    tagged = as_admin.post(f"{url}/tags", {"add": [tag.pk]}, format="json").json()
    assert [t["id"] for t in tagged["tags"]] == [tag.pk]
    assert as_admin.post(f"{url}/read").json()["unread_count"] == 0

    closed = as_admin.post(f"{url}/close", {}, format="json").json()
    assert closed["status"] == "closed" and closed["closed_at"]
    reopened = as_admin.post(f"{url}/reopen").json()
    assert (reopened["status"], reopened["assignee"]["id"]) == ("open", admin_user.pk)


# --- messages ---------------------------------------------------------------------------------


def test_messages_cursor_pagination_both_ways(as_admin):
    ticket = TicketFactory()
    now = timezone.now()
    messages = [MessageFactory(ticket=ticket, sent_at=now - timedelta(minutes=10 - i)) for i in range(5)]
    url = f"{TICKETS}/{ticket.pk}/messages"
    desc = as_admin.get(url, {"page_size": 2}).json()
    assert [m["id"] for m in desc["results"]] == [messages[4].pk, messages[3].pk]
    following = as_admin.get(desc["next"]).json()
    assert [m["id"] for m in following["results"]] == [messages[2].pk, messages[1].pk]
    asc = as_admin.get(url, {"order": "asc", "page_size": 3}).json()
    assert [m["id"] for m in asc["results"]] == [m.pk for m in messages[:3]]


def test_sending_json_and_the_window_error(as_admin):
    ticket = TicketFactory(last_inbound_at=timezone.now() - timedelta(hours=2))
    url = f"{TICKETS}/{ticket.pk}/messages"
    response = as_admin.post(url, {"text": "Olá!"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["status"], response.json()["sender_type"]) == ("pending", "agent")

    stale = TicketFactory(last_inbound_at=timezone.now() - timedelta(days=2))
    response = as_admin.post(f"{TICKETS}/{stale.pk}/messages", {"text": "Olá!"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "whatsapp_window_closed"
    assert "more than 24 hours" in response.json()["detail"]
    assert Message.all_tenants.filter(ticket=stale).count() == 0


def test_sending_multipart_checks_the_file(as_admin, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    from django.core.files.uploadedfile import SimpleUploadedFile

    ticket = TicketFactory(last_inbound_at=timezone.now())
    url = f"{TICKETS}/{ticket.pk}/messages"
    bad = SimpleUploadedFile("virus.exe", b"MZ", content_type="application/x-msdownload")
    response = as_admin.post(url, {"file": bad}, format="multipart")
    assert (response.status_code, response.json()["code"]) == (400, "media_type_not_allowed")
    good = SimpleUploadedFile("nota.pdf", b"%PDF-1.4", content_type="application/pdf")
    response = as_admin.post(url, {"file": good, "text": "Segue"}, format="multipart")
    assert response.status_code == 201, response.content
    assert (response.json()["type"], response.json()["media_filename"]) == ("document", "nota.pdf")


def test_quick_reply_by_id(as_admin, admin_user):
    ticket = TicketFactory(last_inbound_at=timezone.now(), protocol=9)
    reply = QuickReplyFactory(text="Protocolo {{protocol}}")
    response = as_admin.post(f"{TICKETS}/{ticket.pk}/messages", {"quick_reply": reply.pk}, format="json")
    assert response.json()["text"] == "Protocolo 9"


# --- queues, quick replies, scheduled messages ---------------------------------------------------


def test_queue_crud_with_tenant_members_only(as_admin, agent, tenant, other_tenant, make_member):
    stranger = make_member(other_tenant, Role.AGENT)
    response = as_admin.post("/api/v1/queues", {"name": "Vendas", "members": [stranger.pk]}, format="json")
    assert (response.status_code, list(response.json()["fields"])) == (400, ["members"])
    response = as_admin.post("/api/v1/queues", {"name": "Vendas", "members": [agent.pk]}, format="json")
    assert response.status_code == 201
    queue_id = response.json()["id"]
    with tenant_context(tenant):
        assert list(Queue.objects.get(pk=queue_id).members.all()) == [agent]
    assert as_admin.post("/api/v1/queues", {"name": "vendas"}, format="json").status_code == 400
    assert as_admin.patch(f"/api/v1/queues/{queue_id}", {"color": "#000000"}, format="json").status_code == 200
    assert as_admin.delete(f"/api/v1/queues/{queue_id}").status_code == 204


def test_quick_reply_search(as_agent):
    QuickReplyFactory(shortcut="boleto", text="Segue o boleto")
    QuickReplyFactory(shortcut="oi", text="Olá")
    response = as_agent.get("/api/v1/quick-replies", {"search": "bol"})
    assert [r["shortcut"] for r in response.json()["results"]] == ["boleto"]


def test_scheduled_messages_create_list_cancel(as_agent, agent):
    ticket = TicketFactory(status="open", assignee=agent)
    send_at = (timezone.now() + timedelta(hours=3)).isoformat()
    response = as_agent.post(
        "/api/v1/scheduled-messages", {"ticket": ticket.pk, "text": "Lembrete", "send_at": send_at}, format="json"
    )
    assert response.status_code == 201, response.content
    scheduled_id = response.json()["id"]
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = as_agent.post(
        "/api/v1/scheduled-messages", {"ticket": ticket.pk, "text": "x", "send_at": past}, format="json"
    )
    assert response.json()["code"] == "send_at_in_past"
    assert [s["id"] for s in as_agent.get("/api/v1/scheduled-messages").json()["results"]] == [scheduled_id]
    assert as_agent.post(f"/api/v1/scheduled-messages/{scheduled_id}/cancel").json()["status"] == "cancelled"
    again = as_agent.post(f"/api/v1/scheduled-messages/{scheduled_id}/cancel")
    assert (again.status_code, again.json()["code"]) == (409, "scheduled_message_not_cancellable")
    invisible = ScheduledMessageFactory(ticket=TicketFactory(status="open", assignee=None, queue=QueueFactory()))
    assert as_agent.get(f"/api/v1/scheduled-messages/{invisible.pk}").status_code == 404
    assert ScheduledMessage.all_tenants.filter(status="scheduled").count() == 1
    assert QuickReply.all_tenants.count() == 0
