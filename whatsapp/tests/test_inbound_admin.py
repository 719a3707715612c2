"""The WhatsApp admin: credentials never shown, failed inbound events retried by an action."""

import pytest
from django.urls import reverse

from accounts.models import Role
from tenants.selectors import SESSION_TENANT_KEY
from whatsapp.choices import InboundEventStatus
from whatsapp.models import InboundEvent
from whatsapp.tests.factories import ConnectionFactory, InboundEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, tenant, make_member):
    client.force_login(make_member(tenant, Role.ADMIN))
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


def test_the_connection_page_never_shows_secrets(admin_client, tenant):
    connection = ConnectionFactory(tenant=tenant, access_token="EAAG-secret-token", app_secret="app-secret-xyz")
    page = admin_client.get(reverse("admin:whatsapp_connection_change", args=[connection.pk])).content.decode()
    for secret in ("EAAG-secret-token", "app-secret-xyz", connection.webhook_secret):
        assert secret not in page


def test_saving_with_empty_credentials_keeps_them(admin_client, tenant):
    connection = ConnectionFactory(tenant=tenant, access_token="EAAG-secret-token", app_secret="app-secret-xyz")
    response = admin_client.post(
        reverse("admin:whatsapp_connection_change", args=[connection.pk]),
        {
            "name": "Renomeada", "is_default": "on", "greeting_message": "", "farewell_message": "",
            "out_of_hours_message": "", "phone_number_id": connection.phone_number_id, "waba_id": "",
            "display_phone_number": "", "graph_api_version": "v23.0", "access_token": "", "app_secret": "",
            "verify_token": connection.verify_token, "api_base_url": "", "instance_name": "", "api_key": "",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert (connection.name, connection.access_token, connection.app_secret) == (
        "Renomeada", "EAAG-secret-token", "app-secret-xyz",
    )  # fmt: skip


def test_retry_failed_events_action(admin_client, tenant, payload, django_capture_on_commit_callbacks):
    connection = ConnectionFactory(tenant=tenant, phone_number_id="106540352242922")
    failed = InboundEventFactory(
        tenant=tenant, connection=connection, body=payload("cloud/text"), status=InboundEventStatus.FAILED, attempts=1
    )
    processed = InboundEventFactory(tenant=tenant, connection=connection, status=InboundEventStatus.PROCESSED)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:whatsapp_inboundevent_changelist"),
            {"action": "retry_failed_events", "_selected_action": [failed.pk, processed.pk]},
        )
    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (InboundEventStatus.PROCESSED, 2)
    assert InboundEvent.all_tenants.get(pk=processed.pk).attempts == 0
