"""The inbox's AI buttons: off with the reason when AI is not configured, and the session-authenticated
call the inbox's script makes (CSRF token from the page)."""

import json
import re

import pytest
from django.test import Client

from ai.models import TicketInsight
from ai.tests.factories import AISettingsFactory
from crm.tests.factories import DealFactory
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
    assert set(buttons) == {"summarize", "suggest", "classify"}
    reason = "AI is not configured for this workspace. An admin can set it up."
    for attributes in buttons.values():
        assert "disabled" in attributes and reason in attributes
    assert f'<span class="muted small ai-off">{reason}</span>' in html
    rewrite = 'data-ai-compose="/api/v1/ai/compose" aria-label="Rewrite the message with AI"'
    assert f'{rewrite} disabled title="{reason}"' in html
    # The contact panel's deals: BANT qualification, off for the same reason.
    DealFactory(tenant=ticket.tenant, contact=ticket.contact, title="Renovação")
    panel = client.get(f"/inbox/crm/contacts/{ticket.contact_id}/", **HTMX).content.decode()
    assert "disabled" in _buttons(panel)["qualify"] and reason in _buttons(panel)["qualify"]


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


def test_voice_notes_show_their_transcript_or_a_transcribe_button(
    client, admin_user, tenant, ticket, ai_settings, settings, tmp_path, django_assert_max_num_queries
):
    from django.core.files.base import ContentFile

    from ai.tests.factories import MessageTranscriptFactory
    from tickets.models import Message

    settings.MEDIA_ROOT = str(tmp_path)
    voices = []
    for _ in range(3):
        voice = MessageFactory(tenant=tenant, ticket=ticket, type="voice", text="", media_status="ready")
        voice.media_file.save("voice.ogg", ContentFile(b"OggS"), save=False)
        Message.all_tenants.filter(pk=voice.pk).update(media_file=voice.media_file.name)
        voices.append(voice)
    MessageTranscriptFactory(tenant=tenant, message=voices[0], text="Quero trocar o tamanho")
    MessageTranscriptFactory(tenant=tenant, message=voices[1], text="Pode ser amanhã")
    client.force_login(admin_user)
    client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX)  # warm the session
    with django_assert_max_num_queries(40) as captured:
        html = client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    assert "Quero trocar o tamanho" in html and "Pode ser amanhã" in html
    assert html.count('data-ai="transcribe"') == 1
    assert f'data-ai-url="/api/v1/ai/messages/{voices[2].pk}/transcribe" title="Transcribe this voice note' in html
    # The transcripts come with the messages (joined), not one query per voice note.
    assert not [query for query in captured.captured_queries if 'FROM "ai_messagetranscript"' in query["sql"]]


@pytest.mark.parametrize(
    "ai_setup, reason",
    [
        (None, "AI is not configured for this workspace. An admin can set it up."),
        ({"enabled": False}, "AI is switched off for this workspace."),
        ({"transcription_model": ""}, "This AI feature needs a model that is not configured."),
    ],
)
def test_the_transcribe_button_is_off_with_the_reason_without_transcription(
    client, admin_user, tenant, ticket, settings, tmp_path, ai_setup, reason
):
    from django.core.files.base import ContentFile

    from tickets.models import Message

    if ai_setup is not None:
        AISettingsFactory(tenant=tenant, chat_model="fake-chat", **ai_setup)
    settings.MEDIA_ROOT = str(tmp_path)
    voice = MessageFactory(tenant=tenant, ticket=ticket, type="voice", text="", media_status="ready")
    voice.media_file.save("voice.ogg", ContentFile(b"OggS"), save=False)
    Message.all_tenants.filter(pk=voice.pk).update(media_file=voice.media_file.name)
    client.force_login(admin_user)
    for url in (f"/inbox/tickets/{ticket.pk}/", f"/inbox/messages/{voice.pk}/"):  # page and live bubble
        html = client.get(url, **HTMX).content.decode()
        (button,) = re.findall(r'<button type="button" class="ai-transcribe small" data-ai="transcribe"[^>]*>', html)
        assert "disabled" in button and f'title="{reason}"' in button


def test_classify_rewrite_and_qualify_are_offered_when_ai_is_configured(
    admin_user, tenant, ticket, ai_settings, fake_openai
):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    page = browser.get("/inbox/").content.decode()
    token = json.loads(re.search(r"hx-headers='([^']+)'", page).group(1))["X-CSRFToken"]
    html = browser.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    classify = _buttons(html)["classify"]
    assert "disabled" not in classify
    assert f'data-ai-url="/api/v1/ai/tickets/{ticket.pk}/classify"' in classify
    select = re.search(r'<select class="ai-compose"[^>]*>', html).group(0)
    assert "disabled" not in select
    assert '<option value="translate:es">' in html and '<option value="fix_grammar">' in html
    labels = json.loads(re.search(r'data-labels="([^"]*)"', html).group(1).replace("&quot;", '"'))
    assert labels["negative"] == "Negative" and labels["budget"] == "Budget"

    # What the script sends for "Translate to Spanish", with the page's token.
    fake_openai.reply("¿Dónde está mi pedido?")
    response = browser.post(
        "/api/v1/ai/compose",
        json.dumps({"text": "Onde está meu pedido?", "action": "translate", "target_language": "es"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
        HTTP_ACCEPT="application/json",
    )
    assert (response.status_code, response.json()["text"]) == (200, "¿Dónde está mi pedido?")

    deal = DealFactory(tenant=tenant, contact=ticket.contact, title="Renovação")
    panel = browser.get(f"/inbox/crm/contacts/{ticket.contact_id}/", **HTMX).content.decode()
    qualify = _buttons(panel)["qualify"]
    assert "disabled" not in qualify and f'data-ai-url="/api/v1/ai/deals/{deal.pk}/qualify"' in qualify
