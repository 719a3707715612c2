"""An agent's day in a real browser: a customer writes, the agent answers, the ack moves, the ticket
changes hands and is closed — all live over the WebSocket, without reloading a page."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from accounts.models import Role
from accounts.tests.factories import PASSWORD, MembershipFactory, UserFactory
from tenants.context import tenant_context
from tenants.tests.factories import TenantFactory
from tests.e2e.conftest import TIMEOUT_MS, log_in, screenshot
from tickets.models import Message, Ticket
from tickets.tests.factories import QueueFactory, QuickReplyFactory
from whatsapp.management.commands.simulate_inbound import cloud_message_body
from whatsapp.tests.factories import ConnectionFactory

pytestmark = pytest.mark.e2e

CUSTOMER_WA_ID = "5511987654321"


@pytest.fixture
def world(transactional_db, fake_graph):
    tenant = TenantFactory(slug="loja", name="Loja Prosa", language="en")
    sales = QueueFactory(tenant=tenant, name="Vendas", color="#2e7d32", menu_order=1)
    support = QueueFactory(tenant=tenant, name="Suporte", color="#1565c0", menu_order=2)
    ana = MembershipFactory(
        tenant=tenant, role=Role.AGENT, user=UserFactory(name="Ana Lima", email="ana@loja.example")
    ).user
    bruno = MembershipFactory(
        tenant=tenant, role=Role.AGENT, user=UserFactory(name="Bruno Reis", email="bruno@loja.example")
    ).user
    sales.members.add(ana)
    support.members.add(ana, bruno)
    connection = ConnectionFactory(
        tenant=tenant,
        name="Loja Centro",
        api_base_url=fake_graph.url,
        phone_number_id=fake_graph.phone_number_id,
        graph_api_version=fake_graph.version,
        access_token=fake_graph.access_token,
        default_queue=sales,
    )
    QuickReplyFactory(tenant=tenant, shortcut="pedido", text="Olá {{name}}! Seu protocolo é {{protocol}}. Já vou ver.")
    return {"tenant": tenant, "connection": connection, "ana": ana, "bruno": bruno, "sales": sales, "support": support}


def _customer_writes(server, connection, text: str) -> None:
    body = cloud_message_body(
        connection=connection,
        wa_id=CUSTOMER_WA_ID,
        name="Maria Souza",
        message={"type": "text", "text": {"body": text}},
    )
    server.post_webhook(connection, body)


def _status_body(connection, *, wamid: str, status: str) -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": connection.waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": connection.display_phone_number,
                                "phone_number_id": connection.phone_number_id,
                            },
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": status,
                                    "timestamp": str(int(time.time())),
                                    "recipient_id": CUSTOMER_WA_ID,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _wait_for(predicate, *, timeout: float = 15.0, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _texts_sent(fake_graph) -> list[str]:
    """What reached the customer (read receipts go to the same Graph route)."""
    bodies = [request.json() for request in fake_graph.requests_to("POST", fake_graph.messages_path)]
    return [body["text"]["body"] for body in bodies if body.get("type") == "text"]


def _live(page) -> None:
    """The inbox's WebSocket is open (events sent from now on reach this page)."""
    expect(page.locator("#app")).to_have_attribute("data-live", "1")


def test_an_agent_answers_a_customer_live_and_hands_the_ticket_over(world, server, new_page, fake_graph):
    ana, bruno, connection = world["ana"], world["bruno"], world["connection"]

    # Bruno is at his desk first, on his own tickets: nothing yet.
    bruno_page = new_page()
    log_in(bruno_page, bruno.email, PASSWORD)
    expect(bruno_page).to_have_url(re.compile(r"/inbox/$"))
    _live(bruno_page)

    page = new_page()
    page.goto("/inbox/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/inbox/$"))
    screenshot(page, "login")
    log_in(page, ana.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox/$"))
    _live(page)

    # Ana watches the queue; the customer writes; the ticket shows up by itself.
    page.locator("label.tab[data-tab=waiting]").click()
    expect(page.locator("#ticket-rows .empty")).to_be_visible()
    _customer_writes(server, connection, "Oi! Meu pedido 4521 ainda não chegou.")
    row = page.locator(".ticket-row", has_text="Maria Souza")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Meu pedido 4521 ainda não chegou.")
    expect(page.locator("label.tab[data-tab=waiting] .count")).to_have_text("1")

    row.click()
    header = page.locator("#conv-header")
    expect(header).to_contain_text("Maria Souza")
    expect(page.locator("#message-list .msg.in")).to_contain_text("Meu pedido 4521")
    header.get_by_role("button", name="Accept").click()
    expect(header.locator(".status")).to_have_class(re.compile(r"\bstatus-open\b"))
    expect(page.locator("label.tab[data-tab=mine] .count")).to_have_text("1")

    # A quick reply through "/": its variables filled for this ticket.
    ticket = Ticket.all_tenants.get(tenant=world["tenant"])
    textarea = page.locator("#composer textarea")
    textarea.click()
    textarea.press_sequentially("/ped")
    option = page.locator("#quick-replies .quick-reply")
    expect(option).to_have_count(1)
    expect(option).to_contain_text("/pedido")
    textarea.press("Enter")
    expected_text = f"Olá Maria Souza! Seu protocolo é {ticket.protocol}. Já vou ver."
    expect(textarea).to_have_value(expected_text)
    textarea.press("Enter")
    bubble = page.locator("#message-list .msg.out", has_text=expected_text)
    expect(bubble).to_be_visible()
    expect(textarea).to_have_value("")
    assert _texts_sent(fake_graph) == [expected_text]

    # The customer's phone reports the ack: delivered, then read — the ticks follow live.
    message = _wait_for(
        lambda: Message.all_tenants.filter(ticket=ticket, direction="outbound").exclude(provider_message_id="").first(),
        what="the reply's provider id",
    )
    expect(bubble.locator(".ticks")).to_have_class(re.compile(r"\bsent\b"))
    server.post_webhook(connection, _status_body(connection, wamid=message.provider_message_id, status="delivered"))
    expect(bubble.locator(".ticks")).to_have_class(re.compile(r"\bdelivered\b"))
    server.post_webhook(connection, _status_body(connection, wamid=message.provider_message_id, status="read"))
    expect(bubble.locator(".ticks")).to_have_class(re.compile(r"\bread\b"))
    _customer_writes(server, connection, "Obrigada! Fico no aguardo 🙏")
    expect(page.locator("#message-list .msg.in", has_text="Fico no aguardo")).to_be_visible()
    page.locator("label.tab[data-tab=mine]").click()
    expect(page.locator(".ticket-row.active", has_text="Maria Souza")).to_be_visible()
    screenshot(page, "inbox")

    # The same conversation on a phone: one pane at a time.
    phone = new_page(phone=True)
    log_in(phone, ana.email, PASSWORD)
    phone.goto(f"/inbox/tickets/{ticket.pk}/")
    expect(phone.locator("#message-list .msg.in", has_text="Fico no aguardo")).to_be_visible()
    expect(phone.locator("#pane-list")).to_be_hidden()
    screenshot(phone, "inbox-phone")

    # Who is around: Bruno steps away for a moment and Ana's page says so at once.
    bruno_in_team = page.locator(f"#team-list li[data-presence-user='{bruno.pk}']")
    expect(bruno_in_team).to_have_attribute("data-status", "online")
    expect(page.locator("#team-online")).to_have_text("2")
    bruno_page.locator("#presence-toggle").click()
    expect(bruno_in_team).to_have_attribute("data-status", "away")
    expect(page.locator("#team-online")).to_have_text("1")
    bruno_page.locator("#presence-toggle").click()
    expect(bruno_in_team).to_have_attribute("data-status", "online")

    # Ana hands it to Bruno in Suporte, with a note; it leaves her inbox and lands in his, live.
    header.get_by_role("button", name="Transfer").click()
    dialog = page.locator("#transfer-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(f"select[name=to_user] option[value='{bruno.pk}']")).to_have_text("Bruno Reis · Online")
    dialog.get_by_label("To a person").select_option(str(bruno.pk))
    dialog.get_by_label("To a queue").select_option(str(world["support"].pk))
    dialog.get_by_label("Note for the next person (optional)").fill("Pedido 4521 atrasado, ver com a transportadora")
    dialog.get_by_role("button", name="Transfer").click()
    expect(page.locator("#conversation")).not_to_contain_text("Maria Souza")
    expect(page.locator("label.tab[data-tab=mine] .count")).to_have_count(0)

    bruno_row = bruno_page.locator(".ticket-row", has_text="Maria Souza")
    expect(bruno_row).to_be_visible()
    expect(bruno_page.locator("label.tab[data-tab=mine] .count")).to_have_text("1")
    bruno_row.click()
    bruno_header = bruno_page.locator("#conv-header")
    expect(bruno_header).to_contain_text("Suporte")
    expect(bruno_page.locator("#message-list")).to_contain_text("Pedido 4521 atrasado, ver com a transportadora")

    # Bruno closes it without the farewell: nothing more goes to the customer.
    bruno_header.get_by_role("button", name="Close").click()
    close_dialog = bruno_page.locator("#close-dialog")
    close_dialog.get_by_label(re.compile("Send the farewell message")).uncheck()
    close_dialog.get_by_role("button", name="Close the ticket").click()
    expect(bruno_page.locator("#conv-header .status")).to_have_class(re.compile(r"\bstatus-closed\b"))
    expect(bruno_page.locator("#composer")).to_have_count(0)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee_id, ticket.queue_id) == ("closed", bruno.pk, world["support"].pk)
    assert _texts_sent(fake_graph) == [expected_text]


def test_a_user_of_another_tenant_sees_none_of_it(world, server, new_page, fake_graph):
    _customer_writes(server, world["connection"], "Olá, alguém aí?")
    ticket = Ticket.all_tenants.get(tenant=world["tenant"])
    other = TenantFactory(slug="outra", name="Outra Loja", language="en")
    outsider = MembershipFactory(
        tenant=other, role=Role.SUPERVISOR, user=UserFactory(name="Olga Outsider", email="olga@outra.example")
    ).user

    page = new_page()
    log_in(page, outsider.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox/$"))
    expect(page.locator(".tenant-name")).to_have_text("Outra Loja")
    for tab in ("mine", "waiting", "all", "closed"):
        page.locator(f"label.tab[data-tab={tab}]").click()
        expect(page.locator("#ticket-rows .empty")).to_be_visible()
        expect(page.locator(".ticket-row")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("Maria Souza")

    # The language picker: Portuguese for this browser from now on, then English again.
    page.locator("#language-select").select_option("pt-br")
    expect(page.locator("html")).to_have_attribute("lang", "pt-br")
    expect(page.get_by_role("button", name="Sair")).to_be_visible()
    page.locator("#language-select").select_option("en")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    response = page.goto(f"/inbox/tickets/{ticket.pk}/")
    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text("Maria Souza")
    response = page.goto(f"/admin/tickets/ticket/{ticket.pk}/change/")
    assert response.status in (200, 404)
    expect(page.locator("body")).not_to_contain_text("Maria Souza")
    with tenant_context(world["tenant"]):
        assert Ticket.objects.count() == 1


def _admin_page_or_skip(name: str, *args) -> str:
    """The URL of an admin page that another part of the product adds; skip (naming it) if absent."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        pytest.skip(f"the admin page {name!r} does not exist yet")


def test_a_supervisor_runs_the_back_office(world, server, new_page, fake_evolution):
    tenant = world["tenant"]
    supervisor = MembershipFactory(
        tenant=tenant, role=Role.SUPERVISOR, user=UserFactory(name="Sofia Supervisora", email="sofia@loja.example")
    ).user
    _customer_writes(server, world["connection"], "Bom dia, vocês abrem no sábado?")

    page = new_page()
    log_in(page, supervisor.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox/$"))
    page.locator("label.tab[data-tab=all]").click()
    expect(page.locator(".ticket-row", has_text="Maria Souza")).to_be_visible()
    page.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("body")).to_contain_text("Loja Prosa")
    screenshot(page, "admin-home")

    dashboard = _admin_page_or_skip("admin:dashboard")
    response = page.goto(dashboard)
    assert response.status == 200
    expect(page.locator("#content")).to_contain_text(re.compile("Waiting now|Tickets opened"))
    screenshot(page, "admin-dashboard")

    fake_evolution.add_instance("loja-centro-2", state="connecting")
    evolution = ConnectionFactory(
        tenant=tenant,
        evolution=True,
        name="Loja Centro 2 (Evolution)",
        api_base_url=fake_evolution.url,
        instance_name="loja-centro-2",
        api_key=fake_evolution.api_key,
    )
    qrcode = _admin_page_or_skip("admin:whatsapp_connection_qrcode", evolution.pk)
    # Admins manage connections; supervisors may pair a phone that lost its session.
    response = page.goto(qrcode)
    assert response.status == 200, f"{qrcode} answered {response.status}"
    expect(page.locator("#qr-box[data-status=qrcode] img")).to_be_visible()
    screenshot(page, "admin-qrcode")


def test_a_flows_work_shows_live_in_the_open_conversation(world, server, new_page, fake_graph):
    from flows import services as flow_services
    from flows.models import Flow
    from flows.tests.graphs import graph

    ana, connection, tenant = world["ana"], world["connection"], world["tenant"]
    page = new_page()
    log_in(page, ana.email, PASSWORD)
    _live(page)
    page.locator("label.tab[data-tab=waiting]").click()
    _customer_writes(server, connection, "Bom dia")
    row = page.locator(".ticket-row", has_text="Maria Souza")
    row.click()
    expect(page.locator("#message-list .msg.in")).to_contain_text("Bom dia")
    expect(page.locator("#message-list .bot-activity")).to_have_count(0)

    with tenant_context(tenant):
        flow = flow_services.flow_create(
            tenant=tenant, actor=None, name="Segunda via", trigger_type=Flow.Trigger.KEYWORD,
            trigger_config={"keywords": ["boleto"], "match": "contains"},
            graph=graph(("start", "start", {}), ("hi", "send_message", {"text": "Segue o link do boleto."}),
                        edges=[("start", "hi")]),
        )  # fmt: skip
        flow_services.flow_publish(flow=flow)
        flow_services.flow_update(flow=flow, is_active=True)
    _customer_writes(server, connection, "Quero a segunda via do boleto")
    # Without a reload: the flow's nodes join the conversation next to the bot's message.
    activity = page.locator("#message-list .bot-activity")
    # The flow runs in the test's worker after the message (a task, then its events): under the
    # whole suite's load on 2 cores this took longer than the default wait once in a while.
    expect(activity).to_have_count(1, timeout=2 * TIMEOUT_MS)
    expect(activity).to_contain_text("Segunda via")
    expect(page.locator("#message-list .msg.out")).to_contain_text("Segue o link do boleto.")
