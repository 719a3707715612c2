"""The flows' trace in the inbox's history: what ran on the ticket, grouped per run, in the
tenant's language — and only this ticket's, only this tenant's."""

import re

import pytest

from flows.tests.factories import FlowFactory, FlowRunFactory, FlowTraceFactory, FlowVersionFactory
from tickets.tests.factories import MessageFactory, TicketFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ticket(tenant):
    ticket = TicketFactory(tenant=tenant)
    MessageFactory(tenant=tenant, ticket=ticket, text="oi")
    return ticket


def _run(tenant, ticket, name):
    version = FlowVersionFactory(tenant=tenant, flow=FlowFactory(tenant=tenant, name=name))
    return FlowRunFactory(tenant=tenant, ticket=ticket, flow_version=version, flow=version.flow)


def _activity(html: str) -> list[str]:
    return re.findall(r'<details class="event bot-activity".*?</details>', html, flags=re.S)


def test_the_conversation_shows_the_flow_nodes_that_ran(client, admin_user, tenant, ticket):
    tenant.language = "pt-br"
    tenant.save(update_fields=["language"])
    run = _run(tenant, ticket, "Boas-vindas")
    FlowTraceFactory(tenant=tenant, run=run, node_id="hello", node_type="send_message", output={"sent": {}})
    FlowTraceFactory(tenant=tenant, run=run, node_id="email", node_type="ask", output={"sent": {}, "waiting": "input"})
    FlowTraceFactory(tenant=tenant, run=run, node_id="http", node_type="http_request", output={"error": "Timeout"})
    client.force_login(admin_user)
    html = client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX, HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    (activity,) = _activity(html)
    assert "Fluxo “Boas-vindas”: 3 etapas" in activity
    assert "Enviar mensagem" in activity and '<code class="muted">hello</code>' in activity
    assert "Perguntar · aguardando o cliente" in activity
    assert "Requisição HTTP · falhou (Timeout)" in activity


def test_other_tickets_and_other_tenants_traces_stay_out(client, admin_user, tenant, other_tenant, ticket):
    FlowTraceFactory(tenant=tenant, run=_run(tenant, ticket, "Deste ticket"), node_type="start")
    other_ticket = TicketFactory(tenant=tenant)
    FlowTraceFactory(tenant=tenant, run=_run(tenant, other_ticket, "De outro ticket"), node_type="start")
    # Another tenant's run pointing at this ticket (a corrupted row): the tenant's manager hides it.
    FlowTraceFactory(tenant=other_tenant, run=_run(other_tenant, ticket, "De outro cliente"), node_type="start")
    client.force_login(admin_user)
    html = client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    assert len(_activity(html)) == 1
    assert "Deste ticket" in html
    assert "De outro ticket" not in html and "De outro cliente" not in html
