"""The inbox's AI buttons: off with the reason when AI is not configured, and the session-authenticated
call the inbox's script makes (CSRF token from the page)."""

import json
import re

import pytest
from django.test import Client

from ai.models import TicketInsight
from ai.tests.factories import AISettingsFactory
from tickets.tests.factories import MessageFactory, TicketFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ticket(tenant):
    tenant.language = "en"
    tenant.save(update_fields=["language"])
    ticket = TicketFactory(tenant=tenant)
    MessageFactory(tenant=tenant, ticket=ticket, text="Where is my order?")
    return ticket


def _buttons(html: str) -> dict[str, str]:
    return {match[0]: match[1] for match in re.findall(r'<button type="button" data-ai="(\w+)"([^>]*)>', html)}


def test_the_buttons_are_off_with_the_reason_when_ai_is_not_configured(client, admin_user, ticket):
    client.force_login(admin_user)
    html = client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    buttons = _buttons(html)
    assert set(buttons) == {"summarize", "suggest"}
    reason = "AI is not configured for this workspace. An admin can set it up."
    for attributes in buttons.values():
        assert "disabled" in attributes and reason in attributes
    assert f'<span class="muted small ai-off">{reason}</span>' in html


def test_switched_off_ai_says_so(client, admin_user, tenant, ticket):
    AISettingsFactory(tenant=tenant, enabled=False)
    client.force_login(admin_user)
    html = client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    assert "AI is switched off for this workspace." in _buttons(html)["summarize"]


def test_the_buttons_call_the_api_with_the_pages_csrf_token(admin_user, tenant, ticket, ai_settings, fake_openai):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    page = browser.get("/inbox/").content.decode()
    token = json.loads(re.search(r"hx-headers='([^']+)'", page).group(1))["X-CSRFToken"]
    html = browser.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    buttons = _buttons(html)
    assert "disabled" not in buttons["summarize"]
    url = re.search(r'data-ai-url="([^"]+)"', buttons["summarize"]).group(1)
    assert url == f"/api/v1/ai/tickets/{ticket.pk}/summarize"

    assert browser.post(url).status_code == 403  # no token: refused
    fake_openai.reply("- Customer asks where the order is")
    response = browser.post(url, HTTP_X_CSRFTOKEN=token, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    assert TicketInsight.all_tenants.get(ticket=ticket).summary == "- Customer asks where the order is"


def test_the_reason_reads_in_portuguese_for_a_brazilian_workspace(client, admin_user, tenant, ticket):
    tenant.language = "pt-br"
    tenant.save(update_fields=["language"])
    client.force_login(admin_user)
    html = client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX, HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert "A IA não está configurada neste espaço de trabalho." in html
    assert "Sugerir respostas" in html
