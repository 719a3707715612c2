"""The inbox's tab counters partial, the team's presence, the language picker, and message media
for API clients (the API's `media_url` is the permission-checked view, never a storage URL)."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import Role
from tickets import presence
from tickets.tests.factories import MessageFactory, TicketFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(autouse=True)
def _english(settings, tmp_path, tenant):
    settings.MEDIA_ROOT = str(tmp_path)
    tenant.language = "en"
    tenant.save(update_fields=["language"])


@pytest.fixture
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT, name="Ana Agente", email="ana@example.com")


@pytest.fixture
def colleague(tenant, make_member):
    return make_member(tenant, Role.AGENT, name="Bruno Colega", email="bruno@example.com")


@pytest.fixture
def as_agent(client, agent):
    client.force_login(agent)
    return client


def _recent(**fields):
    return TicketFactory(last_inbound_at=timezone.now() - timedelta(minutes=5), **fields)


# --- tab counters ------------------------------------------------------------------------------


def test_the_tabs_partial_counts_each_tab_and_keeps_the_current_one_checked(as_agent, agent):
    _recent(status="open", assignee=agent, unread_count=2)
    _recent(status="pending")
    _recent(status="pending")

    response = as_agent.get("/inbox/tabs/", {"tab": "waiting"}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="tab"') == 3  # an agent has Mine, Waiting and Closed
    assert 'data-tab="mine"' in html and '<span class="count">1</span>' in html and ">2</span>" in html
    assert 'value="waiting" checked' in html
    assert '<span class="count">2</span>' in html


def test_the_tabs_partial_needs_a_member(client, tenant):
    response = client.get("/inbox/tabs/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/inbox/tabs/"


# --- presence ----------------------------------------------------------------------------------


def test_the_team_list_and_the_transfer_dialog_show_who_is_online(as_agent, agent, colleague, tenant):
    presence.socket_connected(tenant_id=tenant.pk, user_id=colleague.pk, socket_id="s1")
    ticket = _recent(status="open", assignee=agent)

    page = as_agent.get(f"/inbox/tickets/{ticket.pk}/").content.decode()

    assert f'data-presence-user="{colleague.pk}" data-status="online"' in page
    assert f'data-presence-user="{agent.pk}" data-status="offline"' in page
    assert '<span id="team-online">1</span>' in page
    assert 'data-name="Bruno Colega" data-status="online">Bruno Colega · Online</option>' in page
    assert 'data-name="Ana Agente" data-status="offline">Ana Agente · Offline</option>' in page

    presence.status_set(tenant_id=tenant.pk, user_id=colleague.pk, status="away")
    header = as_agent.get(f"/inbox/tickets/{ticket.pk}/header/", **HTMX).content.decode()
    assert "Bruno Colega · Away</option>" in header


# --- language ----------------------------------------------------------------------------------


def test_the_language_picker_switches_the_inbox_for_this_browser(as_agent):
    page = as_agent.get("/inbox/").content.decode()
    assert 'action="/inbox/language/"' in page and '<option value="pt-br">' in page

    response = as_agent.post("/inbox/language/", {"language": "pt-br", "next": "/inbox/?tab=waiting"})

    assert response.status_code == 302 and response["Location"] == "/inbox/?tab=waiting"
    page = as_agent.get("/inbox/").content.decode()
    assert '<html lang="pt-br">' in page and "Sair" in page
    as_agent.post("/inbox/language/", {"language": "en", "next": "https://evil.example.com/"})
    assert '<html lang="en">' in as_agent.get("/inbox/").content.decode()


# --- media for API clients ---------------------------------------------------------------------


@pytest.fixture
def image(agent):
    ticket = _recent(status="open", assignee=agent)
    message = MessageFactory(
        ticket=ticket, type="image", media_mime="image/png", media_status="ready", media_filename="a.png"
    )
    message.media_file.save("a.png", ContentFile(PNG))
    return message


def test_the_api_gives_the_permission_checked_media_url_and_it_serves_the_token(
    image, agent, tenant, client_for, settings
):
    settings.PUBLIC_URL = "https://prosa.example.com"
    api = client_for(agent, tenant)

    body = api.get(f"/api/v1/tickets/{image.ticket_id}/messages").json()

    (message,) = [item for item in body["results"] if item["id"] == image.pk]
    assert message["media_url"] == f"https://prosa.example.com/inbox/messages/{image.pk}/media/"
    assert "/media/tenants/" not in str(body)
    served = api.get(f"/inbox/messages/{image.pk}/media/")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == PNG


def test_the_media_url_refuses_other_tokens_like_a_missing_message(
    image, tenant, other_tenant, make_member, client_for, api_client
):
    outsider = client_for(make_member(other_tenant, Role.ADMIN), other_tenant)
    colleague = client_for(make_member(tenant, Role.AGENT), tenant)  # cannot see Ana's open ticket

    for api in (outsider, colleague):
        response = api.get(f"/inbox/messages/{image.pk}/media/")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    missing = outsider.get("/inbox/messages/2000000000/media/")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")

    forged = api_client.get(f"/inbox/messages/{image.pk}/media/", HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert forged.status_code == 401
