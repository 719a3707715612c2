"""The inbox's AI buttons in a real browser, the provider being the fake OpenAI-compatible server:
an agent summarizes a ticket and picks a suggested reply into the message box."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from accounts.tests.factories import PASSWORD, MembershipFactory, UserFactory
from ai.models import AIUsage, TicketInsight
from ai.tests.factories import AISettingsFactory
from ai.tests.fakes import FakeOpenAI
from tenants.tests.factories import TenantFactory
from tests.e2e.conftest import log_in
from tickets.models import Ticket
from tickets.tests.factories import MessageFactory, TicketFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def world(transactional_db):
    tenant = TenantFactory(slug="loja-ia", name="Loja IA", language="en")
    ana = UserFactory(name="Ana Lima", email="ana@ia.example")
    MembershipFactory(tenant=tenant, role=Role.AGENT, user=ana)
    ticket = TicketFactory(tenant=tenant, status=Ticket.Status.OPEN, assignee=ana)
    MessageFactory(tenant=tenant, ticket=ticket, text="Meu pedido 4521 ainda não chegou")
    return {"tenant": tenant, "ana": ana, "ticket": ticket}


def _open_the_ticket(page, world):
    log_in(page, world["ana"].email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/inbox/$"))
    page.locator(".ticket-row").first.click()
    expect(page.locator("#message-list .msg.in")).to_contain_text("Meu pedido 4521")
    return page.locator("#conv-header")


def test_without_a_provider_the_buttons_are_off_and_say_why(world, server, new_page):
    header = _open_the_ticket(new_page(), world)
    expect(header.get_by_role("button", name="Summarize")).to_be_disabled()
    expect(header.locator(".ai-off")).to_have_text("AI is not configured for this workspace. An admin can set it up.")


def test_an_agent_summarizes_and_picks_a_suggested_reply(world, server, new_page, fake_openai):
    AISettingsFactory(
        tenant=world["tenant"], base_url=fake_openai.base_url, api_key=fake_openai.api_key, chat_model="fake-chat"
    )
    page = new_page()
    header = _open_the_ticket(page, world)

    fake_openai.reply("- Order 4521 has not arrived")
    header.get_by_role("button", name="Summarize").click()
    panel = page.locator("#ai-panel")
    expect(panel.locator(".ai-summary")).to_have_text("- Order 4521 has not arrived")
    assert TicketInsight.all_tenants.get(ticket=world["ticket"]).summary == "- Order 4521 has not arrived"

    fake_openai.reply({"replies": ["Vou verificar agora mesmo!", "Posso te ligar?", "Já falo com a transportadora."]})
    header.get_by_role("button", name="Suggest replies").click()
    choices = panel.locator(".ai-reply")
    expect(choices).to_have_count(3)
    choices.nth(2).click()
    expect(page.locator("#composer textarea")).to_have_value("Já falo com a transportadora.")
    assert list(AIUsage.all_tenants.order_by("id").values_list("feature", flat=True)) == [
        "summarize",
        "suggest_replies",
    ]


def test_an_agent_classifies_the_ticket_and_rewrites_a_draft(world, server, new_page, fake_openai):
    AISettingsFactory(
        tenant=world["tenant"],
        base_url=fake_openai.base_url,
        api_key=fake_openai.api_key,
        chat_model="fake-chat",
        ticket_categories=["Delivery", "Billing"],
    )
    page = new_page()
    header = _open_the_ticket(page, world)

    fake_openai.reply({"sentiment": "negative", "category": "Delivery"})
    header.get_by_role("button", name="Classify").click()
    expect(page.locator("#ai-panel .ai-summary")).to_have_text("Negative · Delivery")
    insight = TicketInsight.all_tenants.get(ticket=world["ticket"])
    assert (insight.sentiment, insight.category) == ("negative", "Delivery")

    textarea = page.locator("#composer textarea")
    textarea.fill("vou ver isso")
    fake_openai.reply("Vou verificar isso para você agora mesmo.")
    page.locator("#composer select.ai-compose").select_option("formal")
    expect(textarea).to_have_value("Vou verificar isso para você agora mesmo.")
    sent = fake_openai.chat_requests()[-1]["messages"]
    assert "vou ver isso" in sent[-1]["content"]
