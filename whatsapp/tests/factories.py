import factory

from tenants.tests.factories import TenantOwnedFactory
from whatsapp.choices import InboundEventStatus, Provider
from whatsapp.models import Connection, InboundEvent


class ConnectionFactory(TenantOwnedFactory):
    """A Cloud API connection by default; `ConnectionFactory(evolution=True)` for an Evolution one."""

    class Meta:
        model = Connection

    class Params:
        evolution = factory.Trait(
            provider=Provider.EVOLUTION,
            phone_number_id="",
            access_token="",
            app_secret="",
            api_base_url="http://127.0.0.1:1",
            instance_name=factory.Sequence(lambda n: f"instance-{n}"),
            api_key="evolution-api-key",
        )

    name = factory.Sequence(lambda n: f"WhatsApp {n}")
    provider = Provider.CLOUD
    phone_number_id = factory.Sequence(lambda n: f"10654035224{n:04d}")
    waba_id = "102290129340398"
    display_phone_number = factory.Sequence(lambda n: f"55119300{n:05d}")
    access_token = "EAAGm0PX4ZCpsBAFAKEtoken0123456789"
    app_secret = "3f1b6a0e9c2d47a8b5e4d3c2b1a09f8e"


class InboundEventFactory(TenantOwnedFactory):
    class Meta:
        model = InboundEvent

    connection = factory.SubFactory(ConnectionFactory, tenant=factory.SelfAttribute("..tenant"))
    provider = factory.SelfAttribute("connection.provider")
    body = factory.Sequence(lambda n: b'{"object":"whatsapp_business_account","entry":[],"n":%d}' % n)
    dedupe_key = factory.LazyAttribute(
        lambda o: InboundEvent.build_dedupe_key(connection_id=o.connection.pk, body=bytes(o.body))
    )
    content_type = "application/json"
    status = InboundEventStatus.PENDING
