"""Connection and InboundEvent: routing-key constraints, defaults, tenancy, raw bodies."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tenants.context import tenant_context
from tenants.exceptions import TenantContextMissing
from whatsapp.choices import ConnectionStatus, InboundEventStatus, Provider
from whatsapp.models import Connection, InboundEvent
from whatsapp.tests.factories import ConnectionFactory, InboundEventFactory

pytestmark = pytest.mark.django_db


def integrity_error(**fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionFactory(**fields)


class TestConnection:
    def test_defaults(self, tenant, settings):
        connection = ConnectionFactory(tenant=tenant)
        assert connection.status == ConnectionStatus.DISCONNECTED
        assert connection.graph_api_version == settings.WHATSAPP_GRAPH_API_VERSION
        assert len(connection.webhook_secret) >= 40 and len(connection.verify_token) >= 30
        assert connection.webhook_secret != ConnectionFactory(tenant=tenant).webhook_secret
        assert str(connection) == connection.name

    def test_phone_number_id_is_unique_across_tenants(self, tenant, other_tenant):
        ConnectionFactory(tenant=tenant, phone_number_id="106540352242922")
        integrity_error(tenant=other_tenant, phone_number_id="106540352242922")

    def test_many_connections_without_phone_number_id(self, tenant, other_tenant):
        ConnectionFactory(tenant=tenant, evolution=True)
        ConnectionFactory(tenant=tenant, evolution=True)
        ConnectionFactory(tenant=other_tenant, evolution=True)
        assert Connection.all_tenants.filter(phone_number_id="").count() == 3

    def test_instance_is_unique_per_evolution_server(self, tenant, other_tenant):
        ConnectionFactory(tenant=tenant, evolution=True, api_base_url="https://evo.example.com", instance_name="loja")
        integrity_error(
            tenant=other_tenant, evolution=True, api_base_url="https://evo.example.com", instance_name="loja"
        )
        # Same name on another server is another instance.
        ConnectionFactory(
            tenant=other_tenant, evolution=True, api_base_url="https://evo2.example.com", instance_name="loja"
        )

    def test_one_default_per_tenant(self, tenant, other_tenant):
        ConnectionFactory(tenant=tenant, is_default=True)
        ConnectionFactory(tenant=other_tenant, is_default=True)
        ConnectionFactory(tenant=tenant, is_default=False)
        integrity_error(tenant=tenant, is_default=True)

    def test_names_are_unique_per_tenant(self, tenant, other_tenant):
        ConnectionFactory(tenant=tenant, name="Vendas")
        ConnectionFactory(tenant=other_tenant, name="Vendas")
        integrity_error(tenant=tenant, name="Vendas")

    def test_provider_and_status_are_checked_by_the_database(self, tenant):
        integrity_error(tenant=tenant, provider="telegram")
        integrity_error(tenant=tenant, status="online")

    def test_clean_requires_each_providers_credentials(self, tenant):
        cloud = Connection(tenant=tenant, name="c", provider=Provider.CLOUD)
        with pytest.raises(ValidationError) as caught:
            cloud.clean()
        assert set(caught.value.message_dict) == {"phone_number_id", "access_token", "app_secret"}

        evolution = Connection(tenant=tenant, name="e", provider=Provider.EVOLUTION, api_base_url="https://evo.x/")
        with pytest.raises(ValidationError) as caught:
            evolution.clean()
        assert set(caught.value.message_dict) == {"instance_name", "api_key"}
        assert evolution.api_base_url == "https://evo.x"

    def test_default_manager_is_scoped_to_the_current_tenant(self, tenant, other_tenant):
        mine = ConnectionFactory(tenant=tenant)
        ConnectionFactory(tenant=other_tenant)
        with pytest.raises(TenantContextMissing):
            list(Connection.objects.all())
        with tenant_context(tenant):
            assert list(Connection.objects.all()) == [mine]


class TestInboundEvent:
    def test_raw_body_is_kept_byte_for_byte(self, tenant, payload):
        body = payload("cloud/text")
        connection = ConnectionFactory(tenant=tenant)
        event = InboundEventFactory(tenant=tenant, connection=connection, body=body)

        stored = InboundEvent.all_tenants.get(pk=event.pk)
        assert bytes(stored.body) == body
        assert stored.status == InboundEventStatus.PENDING
        assert (stored.attempts, stored.error, stored.processed_at) == (0, "", None)
        assert stored.provider == Provider.CLOUD
        assert stored.tenant_id == connection.tenant_id == tenant.pk

    def test_the_same_delivery_twice_is_refused_by_dedupe_key(self, tenant, payload):
        body = payload("cloud/text")
        connection = ConnectionFactory(tenant=tenant)
        InboundEventFactory(tenant=tenant, connection=connection, body=body)
        with pytest.raises(IntegrityError), transaction.atomic():
            InboundEventFactory(tenant=tenant, connection=connection, body=body)
        assert InboundEvent.all_tenants.count() == 1

    def test_dedupe_key(self):
        key = InboundEvent.build_dedupe_key(connection_id=7, body=b"{}")
        assert key == "7:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        assert key != InboundEvent.build_dedupe_key(connection_id=8, body=b"{}")
        assert len(key) <= InboundEvent._meta.get_field("dedupe_key").max_length

    def test_default_manager_is_scoped(self, tenant, other_tenant):
        mine = InboundEventFactory(tenant=tenant)
        InboundEventFactory(tenant=other_tenant)
        with tenant_context(other_tenant):
            assert InboundEvent.objects.filter(pk=mine.pk).exists() is False
        with tenant_context(tenant):
            assert list(InboundEvent.objects.all()) == [mine]
