"""whatsapp.services: provider URL checks, webhook URLs, defaults, plan limit."""

import pytest
from django.urls import reverse

from tenants.context import tenant_context
from tenants.exceptions import PlanLimitReached
from whatsapp import services
from whatsapp.exceptions import ProviderUrlNotAllowed
from whatsapp.models import Connection
from whatsapp.tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1", "http://localhost", "http://10.1.2.3", "http://[fe80::1]", "http://100.64.0.1",
            "http://224.0.0.1", "http://user:pw@8.8.8.8", "javascript:alert(1)", "http://8.8.8.8:99999"],
)  # fmt: skip
def test_refused_urls(settings, url):
    settings.WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS = False
    with pytest.raises(ProviderUrlNotAllowed):
        services.provider_url_check(url)


def test_allowed_urls(settings):
    settings.WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS = False
    assert services.provider_url_check(" https://8.8.8.8/evolution/ ") == "https://8.8.8.8/evolution"
    assert services.provider_url_check("") == ""
    settings.WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS = True
    assert services.provider_url_check("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(ProviderUrlNotAllowed):
        services.provider_url_check("ftp://127.0.0.1")


def test_webhook_url(settings, tenant):
    connection = ConnectionFactory(tenant=tenant, evolution=True)
    expected = settings.PUBLIC_URL + reverse("whatsapp-webhook-evolution", kwargs={"secret": connection.webhook_secret})
    assert services.connection_webhook_url(connection) == expected


def test_first_connection_is_default_and_the_plan_limit_holds(tenant):
    tenant.max_connections = 2
    tenant.save()
    common = {"access_token": "t", "app_secret": "s"}
    with tenant_context(tenant):
        first = services.connection_create(tenant=tenant, provider="cloud", name="A", phone_number_id="1", **common)
        second = services.connection_create(tenant=tenant, provider="cloud", name="B", phone_number_id="2", **common)
        with pytest.raises(PlanLimitReached):
            services.connection_create(tenant=tenant, provider="cloud", name="C", phone_number_id="3", **common)
        assert (first.is_default, second.is_default) == (True, False)
        assert Connection.objects.count() == 2


def test_other_providers_settings_are_ignored(tenant):
    with tenant_context(tenant):
        connection = services.connection_create(
            tenant=tenant, provider="evolution", name="E", api_base_url="http://8.8.8.8", instance_name="i",
            api_key="k", phone_number_id="999", access_token="ignored",
        )  # fmt: skip
    assert (connection.phone_number_id, connection.access_token) == ("", "")
