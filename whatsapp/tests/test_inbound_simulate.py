"""`manage.py simulate_inbound` posts a signed webhook over HTTP to a running server."""

import pytest
from django.core.management import CommandError, call_command

from crm.models import Contact
from tickets.models import Message, Ticket
from whatsapp.choices import InboundEventStatus
from whatsapp.models import InboundEvent
from whatsapp.tests.factories import ConnectionFactory


@pytest.mark.django_db(transaction=True)
def test_simulate_inbound_reaches_a_live_server_and_opens_a_ticket(live_server, tenant, fake_graph, capsys):
    ConnectionFactory(tenant=tenant, is_default=True, api_base_url=fake_graph.url, app_secret="segredo")
    call_command(
        "simulate_inbound", "--tenant", tenant.slug, "--from", "+55 11 99999-0000",
        "--text", "Olá, tudo bem? Ação / teste 😊", "--name", "Maria", "--url", live_server.url,
    )  # fmt: skip
    assert "HTTP 200" in capsys.readouterr().out
    assert InboundEvent.all_tenants.get().status == InboundEventStatus.PROCESSED
    contact = Contact.all_tenants.get()
    assert (contact.wa_id, contact.profile_name) == ("5511999990000", "Maria")
    ticket = Ticket.all_tenants.get()
    assert ticket.contact_id == contact.pk
    assert Message.all_tenants.get().text == "Olá, tudo bem? Ação / teste 😊"


@pytest.mark.django_db
def test_simulate_inbound_without_a_cloud_connection_says_how_to_create_one(tenant):
    ConnectionFactory(tenant=tenant, evolution=True)
    with pytest.raises(CommandError, match="no WhatsApp Cloud API connection"):
        call_command("simulate_inbound", "--tenant", tenant.slug, "--from", "5511999990000", "--text", "Oi")
