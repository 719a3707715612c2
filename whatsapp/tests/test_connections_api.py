"""/api/v1/whatsapp/connections: CRUD for admins, plan limit, secrets never shown, webhook URL,
provider actions against the fake Graph and Evolution servers, SSRF refusal, permissions, queries."""

import json

import pytest
from django.conf import settings as django_settings
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from tenants.context import tenant_context
from tickets.tests.factories import TicketFactory
from whatsapp.choices import ConnectionStatus
from whatsapp.models import Connection
from whatsapp.tests.conftest import CLOUD_APP_SECRET
from whatsapp.tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

CONNECTIONS = "/api/v1/whatsapp/connections"
SECRETS = ("EAAGm0PX4ZCpsBAFAKEtoken0123456789", CLOUD_APP_SECRET, "B6D711FCDE4D4FD5936544120E713976")


def detail(pk, action=""):
    return f"{CONNECTIONS}/{pk}" + (f"/{action}" if action else "")


@pytest.fixture(autouse=True)
def _fakes_on_loopback(settings):
    settings.WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS = True
    settings.WHATSAPP_GRAPH_BASE_URL = "http://127.0.0.1:1"  # nothing leaves the machine


@pytest.fixture
def admin(tenant, make_member, client_for):
    return client_for(make_member(tenant, Role.ADMIN), tenant)


@pytest.fixture
def published(monkeypatch):
    from tickets import events

    sent = []
    monkeypatch.setattr(events, "publish", lambda groups, event_type, data: sent.append((event_type, data)))
    return sent


def assert_no_secret(response):
    text = response.content.decode()
    for secret in SECRETS:
        assert secret not in text


def cloud_body(fake_graph, **extra):
    return {
        "name": "Loja Centro",
        "provider": "cloud",
        "api_base_url": fake_graph.url,
        "phone_number_id": fake_graph.phone_number_id,
        "access_token": fake_graph.access_token,
        "app_secret": CLOUD_APP_SECRET,
        **extra,
    }


def evolution_body(fake_evolution, **extra):
    return {
        "name": "Loja Evolution",
        "provider": "evolution",
        "api_base_url": fake_evolution.url + "/",
        "instance_name": "loja-centro",
        "api_key": fake_evolution.api_key,
        **extra,
    }


def all_connections(tenant):
    with tenant_context(tenant):
        return list(Connection.objects.order_by("pk"))


# --- create -------------------------------------------------------------------------------------


def test_create_cloud_returns_webhook_url_and_verify_token_never_credentials(tenant, admin, fake_graph, published):
    response = admin.post(CONNECTIONS, cloud_body(fake_graph), format="json")

    assert response.status_code == 201, response.content
    assert_no_secret(response)
    body = response.json()
    (saved,) = all_connections(tenant)
    assert body["webhook_url"] == f"{django_settings.PUBLIC_URL}/webhooks/whatsapp/cloud/{saved.webhook_secret}/"
    assert body["verify_token"] == saved.verify_token
    assert (body["has_access_token"], body["has_app_secret"], body["has_api_key"]) == (True, True, False)
    assert body["is_default"] is True  # the first connection
    assert saved.access_token == fake_graph.access_token
    assert "access_token" not in body and "app_secret" not in body
    assert [event_type for event_type, _ in published] == ["connection.updated"]


def test_create_evolution_has_no_verify_token(tenant, admin, fake_evolution):
    response = admin.post(CONNECTIONS, evolution_body(fake_evolution), format="json")
    assert response.status_code == 201, response.content
    assert_no_secret(response)
    body = response.json()
    assert body["verify_token"] is None
    assert body["api_base_url"] == fake_evolution.url
    assert body["webhook_url"].endswith(f"/webhooks/whatsapp/evolution/{all_connections(tenant)[0].webhook_secret}/")


def test_provider_settings_are_required(tenant, admin):
    response = admin.post(CONNECTIONS, {"name": "X", "provider": "evolution"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_connection"
    assert set(response.json()["fields"]) == {"api_base_url", "instance_name", "api_key"}
    assert all_connections(tenant) == []


def test_plan_limit_is_409(tenant, admin, fake_graph):
    tenant.max_connections = 1
    tenant.save()
    ConnectionFactory(tenant=tenant)
    response = admin.post(CONNECTIONS, cloud_body(fake_graph), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "plan_limit_reached"
    assert len(all_connections(tenant)) == 1


def test_a_phone_number_id_of_another_tenant_is_409(tenant, other_tenant, admin, fake_graph):
    ConnectionFactory(tenant=other_tenant, phone_number_id=fake_graph.phone_number_id)
    response = admin.post(CONNECTIONS, cloud_body(fake_graph), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "connection_exists"
    assert list(response.json()["fields"]) == ["phone_number_id"]


# --- SSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://10.0.0.5",
        "http://192.168.1.10:8080",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080",
        "http://[::ffff:127.0.0.1]",
        "http://0.0.0.0",
    ],
)
def test_private_provider_urls_are_refused(settings, tenant, admin, fake_evolution, url):
    settings.WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS = False
    response = admin.post(CONNECTIONS, evolution_body(fake_evolution, api_base_url=url), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "provider_url_not_allowed"
    assert list(response.json()["fields"]) == ["api_base_url"]
    assert all_connections(tenant) == []


@pytest.mark.parametrize("url", ["ftp://evolution.example.com", "file:///etc/passwd", "gopher://x", "http://"])
def test_non_http_urls_are_refused_even_when_private_ones_are_allowed(tenant, admin, fake_evolution, url):
    response = admin.post(CONNECTIONS, evolution_body(fake_evolution, api_base_url=url), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "provider_url_not_allowed"


def test_a_public_address_is_accepted(settings, tenant, admin, fake_evolution):
    settings.WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS = False
    response = admin.post(CONNECTIONS, evolution_body(fake_evolution, api_base_url="https://8.8.8.8"), format="json")
    assert response.status_code == 201, response.content


# --- update, default, delete --------------------------------------------------------------------


def test_update_keeps_credentials_when_omitted_or_empty(tenant, admin):
    connection = ConnectionFactory(tenant=tenant)
    response = admin.patch(detail(connection.pk), {"name": "Renamed", "access_token": ""}, format="json")
    assert response.status_code == 200, response.content
    assert_no_secret(response)
    connection.refresh_from_db()
    assert connection.name == "Renamed"
    assert connection.access_token == "EAAGm0PX4ZCpsBAFAKEtoken0123456789"


def test_update_replaces_a_credential_and_never_returns_it(tenant, admin):
    connection = ConnectionFactory(tenant=tenant)
    response = admin.put(detail(connection.pk), {"access_token": "EAA-NEW-TOKEN-42"}, format="json")
    assert response.status_code == 200
    assert "EAA-NEW-TOKEN-42" not in response.content.decode()
    connection.refresh_from_db()
    assert connection.access_token == "EAA-NEW-TOKEN-42"


def test_the_provider_cannot_change(tenant, admin):
    connection = ConnectionFactory(tenant=tenant)
    assert admin.patch(detail(connection.pk), {"provider": "evolution"}, format="json").status_code == 200
    connection.refresh_from_db()
    assert connection.provider == "cloud"


def test_setting_a_default_unsets_the_other(tenant, admin, published):
    first = ConnectionFactory(tenant=tenant, is_default=True)
    second = ConnectionFactory(tenant=tenant)
    response = admin.patch(detail(second.pk), {"is_default": True}, format="json")
    assert response.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    assert sorted(data["id"] for _, data in published) == sorted([first.pk, second.pk])


def test_delete(tenant, admin):
    connection = ConnectionFactory(tenant=tenant)
    assert admin.delete(detail(connection.pk)).status_code == 204
    assert all_connections(tenant) == []


def test_a_connection_with_tickets_cannot_be_deleted(tenant, admin):
    ticket = TicketFactory(tenant=tenant, connection=ConnectionFactory(tenant=tenant))
    response = admin.delete(detail(ticket.connection_id))
    assert response.status_code == 409
    assert response.json()["code"] == "connection_in_use"


# --- reads and permissions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "list_keys", "write"),
    [
        (Role.AGENT, {"id", "name", "provider", "status", "display_phone_number", "is_default"}, 403),
        (Role.SUPERVISOR, "settings", 403),
        (Role.ADMIN, "settings", 200),
    ],
)
def test_permission_matrix(tenant, make_member, client_for, role, list_keys, write):
    client = client_for(make_member(tenant, role), tenant)
    connection = ConnectionFactory(tenant=tenant)
    response = client.get(CONNECTIONS)
    assert response.status_code == 200
    assert_no_secret(response)
    (item,) = response.json()
    if list_keys == "settings":
        assert {"greeting_message", "has_access_token", "phone_number_id"} <= item.keys()
        assert "webhook_url" not in item
    else:
        assert set(item) == list_keys
    retrieved = client.get(detail(connection.pk))
    assert retrieved.status_code == 200
    assert_no_secret(retrieved)
    assert ("webhook_url" in retrieved.json()) is (role == Role.ADMIN)
    assert client.patch(detail(connection.pk), {"name": "New"}, format="json").status_code == write
    assert client.post(detail(connection.pk, "test")).status_code in ((403,) if write == 403 else (502,))
    assert client.delete(detail(connection.pk)).status_code == (403 if write == 403 else 204)


def test_anonymous_and_other_tenant(api_client, tenant, other_tenant, make_member, client_for):
    connection = ConnectionFactory(tenant=tenant)
    assert api_client.get(CONNECTIONS).status_code == 401
    outsider = client_for(make_member(other_tenant, Role.ADMIN), other_tenant)
    assert outsider.get(CONNECTIONS).json() == []
    calls = [("get", ""), ("patch", ""), ("delete", ""), ("post", "test"), ("post", "qrcode"), ("post", "logout")]
    for method, action in calls:
        url = detail(connection.pk, action)
        assert getattr(outsider, method)(url, {}, format="json").status_code == 404


def test_list_query_count_does_not_grow(tenant, admin, django_assert_num_queries):
    ConnectionFactory(tenant=tenant)
    with CaptureQueriesContext(db_connection) as few:
        admin.get(CONNECTIONS)
    for _ in range(5):
        ConnectionFactory(tenant=tenant)
    # authentication (the token's membership with its user and tenant), the connections
    with django_assert_num_queries(2):
        response = admin.get(CONNECTIONS)
    assert len(response.json()) == 6
    assert len(few.captured_queries) == 2


# --- provider actions ---------------------------------------------------------------------------


@pytest.fixture
def cloud(tenant, fake_graph):
    return ConnectionFactory(
        tenant=tenant,
        api_base_url=fake_graph.url,
        phone_number_id=fake_graph.phone_number_id,
        access_token=fake_graph.access_token,
        app_secret=CLOUD_APP_SECRET,
        display_phone_number="",
    )


@pytest.fixture
def evolution(tenant, fake_evolution):
    return ConnectionFactory(
        tenant=tenant, evolution=True, api_base_url=fake_evolution.url, instance_name="loja-centro",
        api_key=fake_evolution.api_key,
    )  # fmt: skip


def test_test_cloud_ok(admin, cloud, published):
    response = admin.post(detail(cloud.pk, "test"))
    assert response.status_code == 200, response.content
    assert_no_secret(response)
    assert response.json() == {
        "ok": True,
        "status": "connected",
        "display_phone_number": "+55 11 93000-1234",
        "verified_name": "Loja Prosa Centro",
        "quality_rating": "GREEN",
    }
    cloud.refresh_from_db()
    assert (cloud.status, cloud.display_phone_number) == (ConnectionStatus.CONNECTED, "+55 11 93000-1234")
    assert [event_type for event_type, _ in published] == ["connection.updated"]


def test_test_cloud_with_a_revoked_token_is_502_with_the_explanation(tenant, admin, cloud):
    Connection.all_tenants.filter(pk=cloud.pk).update(access_token="EAA-revoked")
    response = admin.post(detail(cloud.pk, "test"))
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "provider_error"
    assert "credentials" in body["detail"]
    assert body["fields"] == {"provider_code": "190", "retryable": False}
    assert "EAA-revoked" not in response.content.decode()


def test_test_evolution_reports_the_session_state(admin, evolution, fake_evolution):
    fake_evolution.instances["loja-centro"] = "close"
    response = admin.post(detail(evolution.pk, "test"))
    assert response.status_code == 200
    assert response.json() == {"ok": True, "status": "disconnected", "state": "close"}


def test_test_an_unreachable_server_is_502(tenant, admin):
    connection = ConnectionFactory(tenant=tenant, evolution=True)  # http://127.0.0.1:1
    response = admin.post(detail(connection.pk, "test"))
    assert response.status_code == 502
    assert response.json()["fields"] == {"provider_code": "network_error", "retryable": True}


def test_qrcode_creates_a_missing_instance_with_its_webhook(tenant, admin, evolution, fake_evolution):
    del fake_evolution.instances["loja-centro"]
    response = admin.post(detail(evolution.pk, "qrcode"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["qrcode"].startswith("data:image/png;base64,")
    assert body["status"] == "qrcode"
    assert fake_evolution.webhooks["loja-centro"]["url"].endswith(f"/evolution/{evolution.webhook_secret}/")
    (create,) = fake_evolution.requests_to("POST", "/instance/create")
    assert create.json()["instanceName"] == "loja-centro"
    evolution.refresh_from_db()
    assert evolution.status == ConnectionStatus.QRCODE
    assert_no_secret(response)


def test_qrcode_of_an_existing_instance_sets_the_webhook_and_fetches_it(admin, evolution, fake_evolution):
    fake_evolution.instances["loja-centro"] = "close"
    response = admin.post(detail(evolution.pk, "qrcode"))
    assert response.status_code == 200
    assert response.json()["qrcode"].startswith("data:image/png;base64,")
    assert fake_evolution.requests_to("POST", "/instance/create") == []
    assert fake_evolution.webhooks["loja-centro"]["enabled"] is True


def test_qrcode_of_an_open_session_says_connected(admin, evolution):
    response = admin.post(detail(evolution.pk, "qrcode"))
    assert response.json() == {"qrcode": None, "status": "connected"}


def test_qrcode_and_logout_of_cloud_are_409_not_supported(admin, cloud, fake_graph):
    for action in ("qrcode", "logout"):
        response = admin.post(detail(cloud.pk, action))
        assert response.status_code == 409
        assert response.json()["code"] == "not_supported"
    assert fake_graph.requests == []


def test_logout(admin, evolution, fake_evolution, published):
    evolution.status = ConnectionStatus.CONNECTED
    evolution.save()
    response = admin.post(detail(evolution.pk, "logout"))
    assert response.status_code == 200
    assert response.json()["status"] == "disconnected"
    assert fake_evolution.instances["loja-centro"] == "close"
    assert_no_secret(response)
    evolution.refresh_from_db()
    assert evolution.status == ConnectionStatus.DISCONNECTED
    assert [data["status"] for _, data in published] == ["disconnected"]


def test_no_response_ever_contains_a_credential(tenant, admin, fake_graph, fake_evolution):
    responses = [
        admin.post(CONNECTIONS, cloud_body(fake_graph), format="json"),
        admin.post(CONNECTIONS, evolution_body(fake_evolution), format="json"),
    ]
    ids = [response.json()["id"] for response in responses]
    responses += [admin.get(CONNECTIONS)]
    for pk in ids:
        responses += [
            admin.get(detail(pk)),
            admin.patch(detail(pk), {"greeting_message": "Olá"}, format="json"),
            admin.post(detail(pk, "test")),
            admin.post(detail(pk, "qrcode")),
        ]
    for response in responses:
        assert response.status_code < 500 or response.status_code == 502
        assert_no_secret(response)
        json.loads(response.content)
