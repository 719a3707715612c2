"""The AI pages of the admin: the provider form (key write-only) and this month's usage."""

import pytest
from django.urls import reverse

from accounts.models import Role
from ai.models import AISettings, AIUsage
from ai.tests.factories import AISettingsFactory, AIUsageFactory
from tenants.selectors import SESSION_TENANT_KEY

pytestmark = pytest.mark.django_db


def _login(client, user, tenant):
    client.force_login(user)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


def test_an_admin_sets_up_the_provider_from_a_preset(client, tenant, admin_user, settings):
    settings.AI_ALLOW_PRIVATE_PROVIDER_URLS = True
    client = _login(client, admin_user, tenant)
    response = client.post(
        reverse("admin:ai_aisettings_add"),
        {
            "preset": "ollama", "base_url": "", "api_key": "", "enabled": "on", "chat_model": "",
            "embeddings_model": "", "transcription_model": "", "timeout_seconds": "30", "ticket_categories": "[]",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    stored = AISettings.all_tenants.get(tenant=tenant)
    assert (stored.base_url, stored.chat_model, stored.api_key) == ("http://localhost:11434/v1", "llama3.1", "")
    # One row per workspace: no second "add".
    assert client.get(reverse("admin:ai_aisettings_add")).status_code == 403


def test_the_api_key_is_never_shown_and_empty_keeps_it(client, tenant, admin_user, settings):
    settings.AI_ALLOW_PRIVATE_PROVIDER_URLS = True
    stored = AISettingsFactory(tenant=tenant, api_key="sk-very-secret-key", base_url="http://127.0.0.1:9/v1")
    client = _login(client, admin_user, tenant)
    url = reverse("admin:ai_aisettings_change", args=[stored.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "sk-very-secret-key" not in page.content.decode()
    response = client.post(
        url,
        {
            "preset": "custom", "base_url": "http://127.0.0.1:9/v1", "api_key": "", "enabled": "on",
            "chat_model": "qwen2.5", "embeddings_model": "", "transcription_model": "", "timeout_seconds": "20",
            "ticket_categories": '["Billing"]',
        },
    )  # fmt: skip
    assert response.status_code == 302
    stored = AISettings.all_tenants.get(pk=stored.pk)
    assert (stored.api_key, stored.chat_model, stored.timeout_seconds) == ("sk-very-secret-key", "qwen2.5", 20)


def test_supervisors_cannot_change_the_provider(client, tenant, supervisor_user):
    stored = AISettingsFactory(tenant=tenant)
    client = _login(client, supervisor_user, tenant)
    response = client.post(reverse("admin:ai_aisettings_change", args=[stored.pk]), {"chat_model": "x"})
    assert response.status_code == 403
    assert AISettings.all_tenants.get(pk=stored.pk).chat_model == "gpt-4o-mini"


def test_the_usage_page_shows_this_months_use_against_the_plan(client, tenant, make_member):
    tenant.max_ai_requests_per_month = 50
    tenant.save()
    for _ in range(3):
        AIUsageFactory(tenant=tenant, prompt_tokens=100, completion_tokens=10)
    client = _login(client, make_member(tenant, Role.SUPERVISOR), tenant)
    page = client.get(reverse("admin:ai_aiusage_changelist"))
    assert page.status_code == 200
    text = " ".join(page.content.decode().split())
    assert "3 of 50 AI requests used, 47 left this month." in text
    assert "Tokens: 300 in, 30 out." in text
    assert page.context["has_add_permission"] is False


def test_usage_exports_as_csv(client, tenant, admin_user):
    usage = AIUsageFactory(tenant=tenant, feature="compose", model="fake-chat")
    client = _login(client, admin_user, tenant)
    response = client.post(
        reverse("admin:ai_aiusage_changelist"), {"action": "export_csv", "_selected_action": [usage.pk], "index": 0}
    )
    assert response.status_code == 200
    lines = response.content.decode().strip().splitlines()
    assert lines[0].startswith("time,feature,user_id")
    assert ",compose,,,fake-chat,100,20,150,True," in lines[1]
    assert AIUsage.all_tenants.count() == 1
