"""The agents' inbox (tickets/views.py): pages and partials per role, actions through the views,
the composer's checks, the media view's permission, query budgets and the cross-tenant sweep."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone

from accounts.models import Role
from crm.tests.factories import ContactFactory, ContactFieldDefinitionFactory, TagFactory
from tenants.context import tenant_context
from tickets.models import Message, Ticket, TicketEvent
from tickets.tests.factories import (
    MessageFactory,
    QueueFactory,
    QuickReplyFactory,
    TicketEventFactory,
    TicketFactory,
)
from whatsapp.choices import DeliveryStatus, MessageType

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(autouse=True)
def _no_delivery(monkeypatch, settings, tmp_path, tenant):
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: None)
    settings.MEDIA_ROOT = str(tmp_path)
    # The assertions read English; the pt-BR rendering has its own test.
    tenant.language = "en"
    tenant.save(update_fields=["language"])


@pytest.fixture
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT, name="Ana Agente", email="ana@example.com")


@pytest.fixture
def supervisor(tenant, make_member):
    return make_member(tenant, Role.SUPERVISOR, name="Sara Supervisora")


@pytest.fixture
def as_agent(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def as_supervisor(client, supervisor):
    client.force_login(supervisor)
    return client


def _window_open(**fields):
    return TicketFactory(last_inbound_at=timezone.now() - timedelta(minutes=5), **fields)


def _text(response) -> str:
    return response.content.decode()


# --- access ------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/inbox/"


def test_a_user_without_a_workspace_is_told_so(client, tenant):
    from accounts.tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get("/inbox/")
    assert response.status_code == 403
    assert "not part of a workspace" in _text(response)


# --- the page and the list ---------------------------------------------------------------------------


def test_the_agent_sees_the_three_panes_and_their_tabs(as_agent, agent):
    ticket = TicketFactory(status="open", assignee=agent, contact=ContactFactory(name="Maria Souza"))
    MessageFactory(ticket=ticket, text="Oi, tudo bem?")
    response = as_agent.get("/inbox/")
    assert response.status_code == 200
    html = _text(response)
    assert 'id="ticket-rows"' in html and 'id="conversation"' in html and 'id="contact-panel"' in html
    assert "Maria Souza" in html
    assert 'value="mine"' in html and 'value="waiting"' in html and 'value="closed"' in html
    assert 'value="all"' not in html  # staff only
    assert "static/vendor/htmx/htmx.min.js" in html.replace("/static/", "static/")
    assert "inbox/inbox.js" in html


def test_supervisors_get_the_all_tab(as_supervisor):
    assert 'value="all"' in _text(as_supervisor.get("/inbox/"))


def test_no_connection_yet_says_how_to_add_one(as_supervisor):
    html = _text(as_supervisor.get("/inbox/"))
    assert "No WhatsApp number is connected yet." in html
    assert reverse("admin:whatsapp_connection_add") in html


def test_tabs_follow_the_visibility_rules(as_agent, agent, tenant, make_member):
    mine_queue = QueueFactory()
    mine_queue.members.add(agent)
    mine = TicketFactory(status="open", assignee=agent)
    waiting_in_my_queue = TicketFactory(status="pending", queue=mine_queue)
    waiting_unqueued = TicketFactory(status="pending", queue=None)
    other_queue = TicketFactory(status="pending", queue=QueueFactory())
    someone_elses = TicketFactory(status="open", assignee=make_member(tenant, Role.AGENT))
    closed_mine = TicketFactory(status="closed", assignee=agent, closed_at=timezone.now())

    def rows(tab):
        html = _text(as_agent.get("/inbox/tickets/", {"tab": tab}, **HTMX))
        return {t.pk for t in Ticket.all_tenants.all() if f'id="ticket-row-{t.pk}"' in html}

    assert rows("mine") == {mine.pk}
    assert rows("waiting") == {waiting_in_my_queue.pk, waiting_unqueued.pk}
    assert rows("closed") == {closed_mine.pk}
    # "All" is not an agent's tab: they get their own.
    assert rows("all") == {mine.pk}
    assert other_queue.pk not in rows("waiting") and someone_elses.pk not in rows("mine")


def test_the_all_tab_shows_every_active_ticket_to_a_supervisor(as_supervisor, tenant, make_member):
    active = {
        TicketFactory(status="open", assignee=make_member(tenant, Role.AGENT)).pk,
        TicketFactory(status="pending", queue=QueueFactory()).pk,
    }
    TicketFactory(status="closed", closed_at=timezone.now())
    html = _text(as_supervisor.get("/inbox/tickets/", {"tab": "all"}, **HTMX))
    assert {t.pk for t in Ticket.all_tenants.all() if f'id="ticket-row-{t.pk}"' in html} == active


def test_filters_and_search(as_supervisor):
    queue, vip = QueueFactory(), TagFactory(name="vip")
    in_queue = TicketFactory(status="pending", queue=queue)
    tagged = TicketFactory(status="pending")
    tagged.tags.add(vip)
    by_name = TicketFactory(status="pending", contact=ContactFactory(name="Joana Prado", phone="5511955554444"))
    by_text = TicketFactory(status="pending")
    MessageFactory(ticket=by_text, text="quero cancelar meu pedido")

    def found(**params):
        html = _text(as_supervisor.get("/inbox/tickets/", {"tab": "waiting", **params}, **HTMX))
        return {t.pk for t in Ticket.all_tenants.all() if f'id="ticket-row-{t.pk}"' in html}

    assert found(queue=queue.pk) == {in_queue.pk}
    assert found(tag=vip.pk) == {tagged.pk}
    assert found(q="joana") == {by_name.pk}
    assert found(q="55554444") == {by_name.pk}
    assert found(q="CANCELAR") == {by_text.pk}
    assert found(connection=by_text.connection_id) == {by_text.pk}
    assert "No ticket matches these filters." in _text(
        as_supervisor.get("/inbox/tickets/", {"tab": "waiting", "q": "nobody-at-all"}, **HTMX)
    )


def test_rows_show_preview_unread_badge_and_queue(as_agent, agent):
    queue = QueueFactory(name="Vendas", color="#16a34a")
    TicketFactory(
        status="open", assignee=agent, queue=queue, unread_count=3, last_message_preview="Posso pagar no pix?"
    )
    html = _text(as_agent.get("/inbox/tickets/", {"tab": "mine"}, **HTMX))
    assert "Posso pagar no pix?" in html
    assert '<span class="badge" aria-label="3 unread messages">3</span>' in html
    assert "Vendas" in html


def test_infinite_scroll_pages(as_supervisor):
    now = timezone.now()
    tickets = [TicketFactory(status="pending", last_message_at=now - timedelta(minutes=i)) for i in range(32)]
    first = _text(as_supervisor.get("/inbox/tickets/", {"tab": "waiting"}, **HTMX))
    assert 'hx-trigger="revealed"' in first and "page=2" in first
    assert f'id="ticket-row-{tickets[29].pk}"' in first and f'id="ticket-row-{tickets[30].pk}"' not in first
    second = _text(as_supervisor.get("/inbox/tickets/", {"tab": "waiting", "page": 2}, **HTMX))
    assert f'id="ticket-row-{tickets[30].pk}"' in second and f'id="ticket-row-{tickets[31].pk}"' in second
    assert 'hx-trigger="revealed"' not in second
    assert 'id="tabs"' not in second  # the counters are refreshed with the first page only


def test_the_list_partial_costs_the_same_queries_whatever_the_page_size(as_supervisor, django_assert_num_queries):
    def make(n):
        for _ in range(n):
            ticket = TicketFactory(status="pending", queue=QueueFactory(), assignee=None)
            ticket.tags.add(TagFactory())
            ticket.contact.tags.add(TagFactory())

    make(2)
    as_supervisor.get("/inbox/tickets/", {"tab": "waiting"}, **HTMX)  # the session's first touch writes it
    with CaptureQueriesContext(connection) as small:
        response = as_supervisor.get("/inbox/tickets/", {"tab": "waiting"}, **HTMX)
    assert response.content.count(b'class="ticket-row') == 2
    make(20)
    # session + user + tenant of the session + role + tab counters + page + ticket tags + contact tags
    with django_assert_num_queries(len(small.captured_queries)):
        response = as_supervisor.get("/inbox/tickets/", {"tab": "waiting"}, **HTMX)
    assert response.content.count(b'class="ticket-row') == 22
    assert len(small.captured_queries) <= 8


def test_the_row_partial_answers_204_when_the_ticket_left_the_list(as_agent, agent):
    ticket = TicketFactory(status="open", assignee=agent, contact=ContactFactory(name="Rosa"))
    response = as_agent.get(f"/inbox/tickets/{ticket.pk}/row/", {"tab": "mine"}, **HTMX)
    assert response.status_code == 200 and "Rosa" in _text(response)
    assert as_agent.get(f"/inbox/tickets/{ticket.pk}/row/", {"tab": "waiting"}, **HTMX).status_code == 204


# --- the conversation ------------------------------------------------------------------------------


def test_the_conversation_shows_every_kind_of_message_and_the_history(as_agent, agent, tenant):
    ticket = _window_open(status="open", assignee=agent, contact=ContactFactory(name="Carlos"))
    yesterday = timezone.now() - timedelta(days=1)
    first = MessageFactory(ticket=ticket, text="Bom dia", sent_at=yesterday)
    MessageFactory(
        ticket=ticket,
        type=MessageType.LOCATION,
        text="Loja",
        latitude=-23.5505,
        longitude=-46.6333,
        payload={"name": "Loja Centro"},
    )
    MessageFactory(
        ticket=ticket,
        type=MessageType.CONTACTS,
        text="Pedro",
        payload={"contacts": [{"name": "Pedro", "phones": ["+55 11 98888-7777"], "emails": []}]},
    )
    image = MessageFactory(ticket=ticket, type=MessageType.IMAGE, text="", media_status="ready", media_mime="image/png")
    image.media_file.save("photo.png", ContentFile(PNG))
    MessageFactory(ticket=ticket, type=MessageType.AUDIO, text="", media_status="pending")
    MessageFactory(
        ticket=ticket,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        author=agent,
        text="Resposta",
        status=DeliveryStatus.FAILED,
        error_title="Re-engagement message",
        error_detail="More than 24 hours since the customer last wrote.",
        quoted=first,
        reactions={"contact": "👍"},
    )
    MessageFactory(ticket=ticket, direction="outbound", sender_type="agent", author=agent, text="Lido", status="read")
    TicketEventFactory(ticket=ticket, type=TicketEvent.Type.ACCEPTED, actor=agent)

    response = as_agent.get(f"/inbox/tickets/{ticket.pk}/", **HTMX)
    assert response.status_code == 200
    html = _text(response)
    assert "Bom dia" in html and "Yesterday" in html and "Today" in html
    assert "https://maps.google.com/?q=-23.5505,-46.6333" in html and "Loja Centro" in html
    assert "Pedro" in html and "tel:+55 11 98888-7777" in html
    assert f'src="/inbox/messages/{image.pk}/media/"' in html and "data-lightbox" in html
    assert "Downloading the file…" in html
    assert "Not delivered: More than 24 hours since the customer last wrote." in html
    assert f'href="#msg-{first.pk}"' in html  # the quoted reply
    assert "👍" in html
    assert 'class="ticks read"' in html
    assert "Ana Agente accepted the ticket" in html
    assert 'id="contact-panel" hx-swap-oob="true"' in html and "Carlos" in html


def test_opened_directly_the_conversation_comes_inside_the_whole_page(as_agent, agent):
    ticket = _window_open(status="open", assignee=agent)
    response = as_agent.get(f"/inbox/tickets/{ticket.pk}/")
    assert response.status_code == 200
    html = _text(response)
    assert 'id="ticket-rows"' in html and f'data-ticket-id="{ticket.pk}"' in html
    assert "show-conversation" in html


def test_load_older_pages_through_the_conversation(as_agent, agent):
    ticket = _window_open(status="open", assignee=agent)
    start = timezone.now() - timedelta(hours=2)
    messages = [
        MessageFactory(ticket=ticket, text=f"msg {i:03d}", sent_at=start + timedelta(seconds=i)) for i in range(45)
    ]
    html = _text(as_agent.get(f"/inbox/tickets/{ticket.pk}/", **HTMX))
    assert "msg 044" in html and "msg 005" in html and "msg 004" not in html
    assert f"?before={messages[5].pk}" in html
    older = _text(as_agent.get(f"/inbox/tickets/{ticket.pk}/messages/", {"before": messages[5].pk}, **HTMX))
    assert "msg 000" in older and "msg 004" in older and "msg 005" not in older
    assert "Load older messages" not in older


def test_the_message_partial_and_the_header(as_agent, agent):
    ticket = _window_open(status="open", assignee=agent)
    message = MessageFactory(ticket=ticket, text="Chegou?")
    response = as_agent.get(f"/inbox/messages/{message.pk}/", **HTMX)
    assert response.status_code == 200 and "Chegou?" in _text(response) and 'class="day-sep"' in _text(response)
    header = _text(as_agent.get(f"/inbox/tickets/{ticket.pk}/header/", **HTMX))
    assert 'id="conv-header"' in header and 'id="composer-state" class="composer-state" hx-swap-oob="true"' in header


def test_the_composer_says_when_the_24_hour_window_is_closed(as_agent, agent):
    ticket = TicketFactory(status="open", assignee=agent, last_inbound_at=timezone.now() - timedelta(hours=30))
    html = _text(as_agent.get(f"/inbox/tickets/{ticket.pk}/", **HTMX))
    assert "More than 24 hours have passed since the customer last wrote" in html
    assert 'name="template_name"' in html
    assert "No approved template of this number is known yet" in html


def test_the_template_form_suggests_the_connections_approved_templates(as_agent, agent):
    from campaigns.tests.factories import MessageTemplateFactory
    from whatsapp.models import MessageTemplate

    ticket = TicketFactory(status="open", assignee=agent, last_inbound_at=timezone.now() - timedelta(hours=30))
    MessageTemplateFactory(tenant=ticket.tenant, connection=ticket.connection, name="pedido_enviado")
    MessageTemplateFactory(
        tenant=ticket.tenant, connection=ticket.connection, name="rascunho", status=MessageTemplate.Status.PENDING
    )
    html = as_agent.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    assert '<option value="pedido_enviado">' in html
    assert "rascunho" not in html


# --- sending ------------------------------------------------------------------------------------


def test_sending_a_text_goes_through_the_service(as_agent, agent):
    ticket = _window_open(status="open", assignee=agent)
    response = as_agent.post(f"/inbox/tickets/{ticket.pk}/send/", {"text": "Olá!"}, **HTMX)
    assert response.status_code == 201, response.content
    message = Message.all_tenants.get(ticket=ticket)
    assert (message.text, message.direction, message.author_id, message.status) == (
        "Olá!",
        "outbound",
        agent.pk,
        "pending",
    )
    assert f'id="msg-{message.pk}"' in _text(response)
    assert "inbox:ticket-changed" in response["HX-Trigger"]


def test_replying_to_a_message_and_an_internal_note(as_agent, agent):
    ticket = _window_open(status="open", assignee=agent)
    quoted = MessageFactory(ticket=ticket, text="Qual o prazo?")
    as_agent.post(f"/inbox/tickets/{ticket.pk}/send/", {"text": "5 dias", "reply_to": quoted.pk}, **HTMX)
    as_agent.post(f"/inbox/tickets/{ticket.pk}/send/", {"text": "cliente VIP", "internal_note": "on"}, **HTMX)
    reply = Message.all_tenants.get(text="5 dias")
    note = Message.all_tenants.get(text="cliente VIP")
    assert reply.quoted_id == quoted.pk
    assert note.is_internal_note and note.status == ""


def test_outside_the_window_text_is_refused_in_words_and_notes_and_templates_pass(as_agent, agent):
    ticket = TicketFactory(status="open", assignee=agent, last_inbound_at=timezone.now() - timedelta(hours=30))
    response = as_agent.post(f"/inbox/tickets/{ticket.pk}/send/", {"text": "Oi"}, **HTMX)
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#flash"
    assert "more than 24 hours" in _text(response)
    assert not Message.all_tenants.filter(ticket=ticket).exists()
    note = as_agent.post(f"/inbox/tickets/{ticket.pk}/send/", {"text": "ligar amanhã", "internal_note": "on"}, **HTMX)
    assert note.status_code == 201
    template = as_agent.post(
        f"/inbox/tickets/{ticket.pk}/send/", {"template_name": "retomar_contato", "template_language": "pt_BR"}, **HTMX
    )
    assert template.status_code == 201
    sent = Message.all_tenants.get(ticket=ticket, is_internal_note=False)
    assert sent.payload["template"] == {"name": "retomar_contato", "language": "pt_BR"}


def test_attachments_are_checked_with_a_clear_message(as_agent, agent, settings):
    ticket = _window_open(status="open", assignee=agent)
    url = f"/inbox/tickets/{ticket.pk}/send/"
    exe = SimpleUploadedFile("virus.exe", b"MZ", content_type="application/x-msdownload")
    response = as_agent.post(url, {"file": exe}, **HTMX)
    assert response.status_code == 400
    assert "WhatsApp does not accept files of this type." in _text(response)
    settings.WHATSAPP_MEDIA_MAX_BYTES = 1024 * 1024
    big = SimpleUploadedFile("big.png", b"\0" * (1024 * 1024 + 1), content_type="image/png")
    response = as_agent.post(url, {"file": big}, **HTMX)
    assert response.status_code == 400
    assert "larger than WhatsApp accepts for this type (1 MB)" in _text(response)
    assert not Message.all_tenants.filter(ticket=ticket).exists()

    photo = SimpleUploadedFile("foto.png", PNG, content_type="image/png")
    response = as_agent.post(url, {"file": photo, "text": "veja"}, **HTMX)
    assert response.status_code == 201
    message = Message.all_tenants.get(ticket=ticket)
    assert (message.type, message.media_mime, message.text) == ("image", "image/png", "veja")
    assert f"/inbox/messages/{message.pk}/media/" in _text(response)


def test_quick_replies_are_filtered_and_filled(as_agent, agent):
    ticket = _window_open(status="open", assignee=agent, contact=ContactFactory(name="Beatriz"))
    QuickReplyFactory(shortcut="ola", text="Olá {{name}}, protocolo {{protocol}}. Sou {{agent}}.")
    QuickReplyFactory(shortcut="tchau", text="Até logo!")
    html = _text(as_agent.get(f"/inbox/tickets/{ticket.pk}/quick-replies/", {"q": "ol"}, **HTMX))
    assert f"Olá Beatriz, protocolo {ticket.protocol}. Sou Ana Agente." in html
    assert "Até logo!" not in html


# --- actions -----------------------------------------------------------------------------------


def test_accept_then_someone_else_gets_a_clear_409(as_agent, agent, client, tenant, make_member):
    ticket = TicketFactory(status="pending", queue=None)
    response = as_agent.post(f"/inbox/tickets/{ticket.pk}/accept/", **HTMX)
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee_id) == ("open", agent.pk)
    assert "inbox:ticket-changed" in response["HX-Trigger"]

    other = make_member(tenant, Role.AGENT)
    client.force_login(other)
    late = client.post(f"/inbox/tickets/{ticket.pk}/accept/", **HTMX)
    assert late.status_code == 409
    assert "Another agent has already taken this ticket." in _text(late)


def test_transfer_to_a_queue_takes_the_ticket_out_of_the_agents_inbox(as_agent, agent):
    ticket = _window_open(status="open", assignee=agent)
    queue = QueueFactory(name="Financeiro")
    response = as_agent.post(
        f"/inbox/tickets/{ticket.pk}/transfer/", {"to_queue": queue.pk, "note": "boleto vencido"}, **HTMX
    )
    assert response.status_code == 200
    assert "no longer in your inbox" in _text(response)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.queue_id, ticket.assignee_id) == ("pending", queue.pk, None)
    event = TicketEvent.all_tenants.get(ticket=ticket, type="transferred")
    assert event.data["note"] == "boleto vencido"


def test_transfer_to_a_person_and_wrong_targets(as_supervisor, tenant, other_tenant, make_member):
    ticket = _window_open(status="pending")
    colleague = make_member(tenant, Role.AGENT, name="Caio")
    outsider_queue = QueueFactory(tenant=other_tenant)
    bad = as_supervisor.post(f"/inbox/tickets/{ticket.pk}/transfer/", {"to_queue": outsider_queue.pk}, **HTMX)
    assert bad.status_code == 400 and "There is no such queue." in _text(bad)
    empty = as_supervisor.post(f"/inbox/tickets/{ticket.pk}/transfer/", {}, **HTMX)
    assert empty.status_code == 400 and "Choose a user or a queue" in _text(empty)
    ok = as_supervisor.post(f"/inbox/tickets/{ticket.pk}/transfer/", {"to_user": colleague.pk}, **HTMX)
    assert ok.status_code == 200
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee_id) == ("open", colleague.pk)
    assert "transferred the ticket to Caio" in _text(ok)


def test_close_with_and_without_farewell_and_reopen(as_agent, agent):
    with_farewell = _window_open(status="open", assignee=agent)
    with_farewell.connection.farewell_message = "Obrigado, {{name}}!"
    with_farewell.connection.save()
    as_agent.post(f"/inbox/tickets/{with_farewell.pk}/close/", {"send_farewell": "on"}, **HTMX)
    with_farewell.refresh_from_db()
    assert with_farewell.status == "closed"
    assert Message.all_tenants.filter(ticket=with_farewell, sender_type="system").count() == 1

    silent = _window_open(status="open", assignee=agent, connection=with_farewell.connection)
    response = as_agent.post(f"/inbox/tickets/{silent.pk}/close/", {}, **HTMX)
    assert "This ticket is closed." in _text(response)
    assert not Message.all_tenants.filter(ticket=silent).exists()

    reopened = as_agent.post(f"/inbox/tickets/{silent.pk}/reopen/", **HTMX)
    assert reopened.status_code == 200
    silent.refresh_from_db()
    assert (silent.status, silent.assignee_id) == ("open", agent.pk)


def test_priority_tags_and_read(as_agent, agent, other_tenant):
    ticket = _window_open(status="open", assignee=agent, unread_count=4)
    vip = TagFactory(name="vip")
    assert as_agent.post(f"/inbox/tickets/{ticket.pk}/priority/", {"priority": "urgent"}, **HTMX).status_code == 200
    bad = as_agent.post(f"/inbox/tickets/{ticket.pk}/priority/", {"priority": "whenever"}, **HTMX)
    assert bad.status_code == 400 and "Choose one of the priorities." in _text(bad)
    assert as_agent.post(f"/inbox/tickets/{ticket.pk}/tags/", {"add": vip.pk}, **HTMX).status_code == 200
    ticket.refresh_from_db()
    with tenant_context(ticket.tenant):
        assert ticket.priority == "urgent" and list(ticket.tags.values_list("name", flat=True)) == ["vip"]
    assert as_agent.post(f"/inbox/tickets/{ticket.pk}/tags/", {"remove": vip.pk}, **HTMX).status_code == 200
    with tenant_context(ticket.tenant):
        assert not ticket.tags.exists()
    foreign = TagFactory(tenant=other_tenant)
    assert as_agent.post(f"/inbox/tickets/{ticket.pk}/tags/", {"add": foreign.pk}, **HTMX).status_code == 400
    assert as_agent.post(f"/inbox/tickets/{ticket.pk}/read/", **HTMX).status_code == 204
    ticket.refresh_from_db()
    assert ticket.unread_count == 0


# --- the contact panel ------------------------------------------------------------------------------


def test_the_contact_panel_edits_fields_tags_and_notes(as_agent, agent):
    ContactFieldDefinitionFactory(key="cpf", label="CPF")
    ContactFieldDefinitionFactory(key="plano", label="Plano", field_type="choice", choices=["basic", "pro"])
    ticket = _window_open(status="open", assignee=agent, contact=ContactFactory(name="Lia"))
    earlier = TicketFactory(status="closed", assignee=agent, contact=ticket.contact, closed_at=timezone.now())
    html = _text(as_agent.get(f"/inbox/tickets/{ticket.pk}/", **HTMX))
    assert 'name="cf_cpf"' in html and f"#{earlier.protocol}" in html
    response = as_agent.post(
        f"/inbox/tickets/{ticket.pk}/contact/",
        {"name": "Lia Martins", "notes": "prefere tarde", "tags": "vip, atacado", "cf_cpf": "123", "cf_plano": "pro"},
        **HTMX,
    )
    assert response.status_code == 200 and "Saved." in _text(response)
    contact = ticket.contact
    contact.refresh_from_db()
    assert (contact.name, contact.notes) == ("Lia Martins", "prefere tarde")
    assert contact.custom_fields == {"cpf": "123", "plano": "pro"}
    with tenant_context(ticket.tenant):
        assert sorted(contact.tags.values_list("name", flat=True)) == ["atacado", "vip"]
    wrong = as_agent.post(f"/inbox/tickets/{ticket.pk}/contact/", {"cf_plano": "gold"}, **HTMX)
    assert wrong.status_code == 400 and "Must be one of: basic, pro." in _text(wrong)


# --- media ----------------------------------------------------------------------------------------


def test_media_is_served_only_to_who_may_see_the_ticket(as_agent, agent, tenant, make_member, client):
    ticket = _window_open(status="open", assignee=agent)
    image = MessageFactory(
        ticket=ticket, type="image", media_mime="image/png", media_status="ready", media_filename="a.png"
    )
    image.media_file.save("a.png", ContentFile(PNG))
    response = as_agent.get(f"/inbox/messages/{image.pk}/media/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"

    html_doc = MessageFactory(ticket=ticket, type="document", media_mime="text/html", media_status="ready")
    html_doc.media_file.save("page.html", ContentFile(b"<script>alert(1)</script>"))
    served = as_agent.get(f"/inbox/messages/{html_doc.pk}/media/")
    assert served["Content-Type"] == "application/octet-stream"
    assert served["Content-Disposition"].startswith("attachment")

    no_file = MessageFactory(ticket=ticket)
    assert as_agent.get(f"/inbox/messages/{no_file.pk}/media/").status_code == 404

    # Another agent who cannot see this (open, someone else's) ticket: 404, like a missing one.
    client.force_login(make_member(tenant, Role.AGENT))
    assert client.get(f"/inbox/messages/{image.pk}/media/").status_code == 404
    assert client.get(f"/inbox/messages/{image.pk}/").status_code == 404
    assert client.get(f"/inbox/tickets/{ticket.pk}/").status_code == 404


# --- the cross-tenant sweep over every inbox route ------------------------------------------------------


def _inbox_routes() -> list[tuple[str, set[str]]]:
    (inbox,) = [p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "inbox"]
    routes = []
    for pattern in inbox.url_patterns:
        assert isinstance(pattern, URLPattern)
        routes.append((f"inbox:{pattern.name}", set(pattern.pattern.regex.groupindex)))
    return routes


INBOX_ROUTES = _inbox_routes()
OBJECT_ROUTES = [(name, kwargs) for name, kwargs in INBOX_ROUTES if kwargs]


def test_the_sweep_knows_every_inbox_route():
    assert {frozenset(kwargs) for _, kwargs in OBJECT_ROUTES} == {frozenset({"ticket_id"}), frozenset({"message_id"})}
    assert len(OBJECT_ROUTES) == len(INBOX_ROUTES) - 4  # the page, the list, its tabs, the language


@pytest.mark.parametrize(("name", "kwargs"), OBJECT_ROUTES, ids=[name for name, _ in OBJECT_ROUTES])
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_tenants_ticket_or_message_is_a_404_on_every_inbox_route(
    name, kwargs, method, client, tenant, other_tenant, make_member
):
    admin_a = make_member(tenant, Role.ADMIN)
    ticket_b = TicketFactory(tenant=other_tenant, status="pending", last_inbound_at=timezone.now())
    message_b = MessageFactory(tenant=other_tenant, ticket=ticket_b, type="image", media_status="ready")
    message_b.media_file.save("b.png", ContentFile(PNG))
    ids = {"ticket_id": ticket_b.pk, "message_id": message_b.pk}
    client.force_login(admin_a)
    before = (
        Ticket.all_tenants.filter(tenant=other_tenant).values_list("status", "assignee_id", "priority", "unread_count")[
            0
        ],
        Message.all_tenants.filter(tenant=other_tenant).count(),
    )
    body = {"text": "from A", "priority": "high", "to_user": admin_a.pk, "name": "A", "internal_note": "on"}
    url = reverse(name, kwargs={key: ids[key] for key in kwargs})
    response = getattr(client, method)(url, body if method == "post" else {"before": message_b.pk}, **HTMX)
    missing_url = reverse(name, kwargs={key: 2_000_000_000 for key in kwargs})
    missing = getattr(client, method)(missing_url, body if method == "post" else {}, **HTMX)
    assert response.status_code in (404, 405), (url, response.status_code)
    assert response.status_code == missing.status_code
    after = (
        Ticket.all_tenants.filter(tenant=other_tenant).values_list("status", "assignee_id", "priority", "unread_count")[
            0
        ],
        Message.all_tenants.filter(tenant=other_tenant).count(),
    )
    assert after == before


# --- language ---------------------------------------------------------------------------------


def test_the_inbox_speaks_the_tenants_language_unless_the_user_chose_one(as_agent, agent, tenant, settings):
    tenant.language = "pt-br"
    tenant.save(update_fields=["language"])
    ticket = TicketFactory(status="open", assignee=agent, last_inbound_at=timezone.now() - timedelta(days=2))
    html = _text(as_agent.get(f"/inbox/tickets/{ticket.pk}/"))
    assert "Meus" in html and "Aguardando" in html and "Encerrados" in html
    assert "Já se passaram mais de 24 horas" in html
    as_agent.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "More than 24 hours have passed" in _text(as_agent.get(f"/inbox/tickets/{ticket.pk}/"))


def test_the_whole_page_has_one_set_of_tabs_and_the_first_page_refreshes_them(as_agent):
    assert _text(as_agent.get("/inbox/")).count('id="tabs"') == 1
    first = _text(as_agent.get("/inbox/tickets/", {"tab": "waiting"}, **HTMX))
    assert '<div class="tabs" id="tabs" role="tablist" hx-swap-oob="true">' in first
