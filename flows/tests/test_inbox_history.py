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


def test_the_open_conversation_fetches_the_nodes_run_after_the_ones_it_shows(client, admin_user, tenant, ticket):
    run = _run(tenant, ticket, "Boas-vindas")
    first = FlowTraceFactory(tenant=tenant, run=run, node_id="hello", node_type="send_message", output={"sent": {}})
    client.force_login(admin_user)
    html = client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    assert f'data-trace-cursor="{first.pk}"' in html
    (activity,) = _activity(html)
    assert f'data-first-trace="{first.pk}" data-last-trace="{first.pk}"' in activity

    # The flow goes on (the inbox hears of it through the ticket's and messages' events).
    later = FlowTraceFactory(tenant=tenant, run=run, node_id="ask_email", node_type="ask", output={"waiting": "input"})
    other_run = _run(tenant, ticket, "Pesquisa")
    last = FlowTraceFactory(tenant=tenant, run=other_run, node_id="bye", node_type="close_ticket")
    fresh = client.get(f"/inbox/tickets/{ticket.pk}/bot-activity/?after={first.pk}", **HTMX).content.decode()
    groups = _activity(fresh)
    assert len(groups) == 2
    assert f'data-flow-run="{run.pk}" data-first-trace="{later.pk}" data-last-trace="{later.pk}"' in groups[0]
    assert "ask_email" in groups[0] and "hello" not in fresh
    assert f'data-flow-run="{other_run.pk}"' in groups[1] and "bye" in groups[1]

    # A run still going at the bottom is asked for again from its first node, and redrawn whole.
    whole = client.get(f"/inbox/tickets/{ticket.pk}/bot-activity/?after={first.pk - 1}", **HTMX).content.decode()
    assert f'data-first-trace="{first.pk}" data-last-trace="{later.pk}"' in _activity(whole)[0]
    nothing = client.get(f"/inbox/tickets/{ticket.pk}/bot-activity/?after={last.pk}", **HTMX).content.decode()
    assert _activity(nothing) == []


def test_a_conversation_without_traces_starts_its_cursor_at_the_latest_one(client, admin_user, tenant, ticket):
    client.force_login(admin_user)
    html = client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    assert 'data-trace-cursor="0"' in html
    assert 'data-bot-activity-url="/inbox/tickets/0/bot-activity/"' in client.get("/inbox/").content.decode()


def test_the_live_bot_activity_is_only_for_visible_tickets_of_the_tenant(
    client, admin_user, tenant, other_tenant, ticket
):
    foreign = TicketFactory(tenant=other_tenant)
    FlowTraceFactory(tenant=other_tenant, run=_run(other_tenant, foreign, "De outro cliente"), node_type="start")
    client.force_login(admin_user)
    response = client.get(f"/inbox/tickets/{foreign.pk}/bot-activity/?after=0", **HTMX)
    assert response.status_code == 404
    assert "De outro cliente" not in response.content.decode()
    assert client.get(f"/inbox/tickets/{ticket.pk}/bot-activity/?after=nonsense", **HTMX).status_code == 200
