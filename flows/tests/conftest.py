# ruff: noqa: F401, F811 — fixtures re-exported for the flow tests
"""Fixtures of the flow tests: a Cloud connection aimed at the fake Graph API, `say()` (a customer
message through the signed webhook, Celery eager: the flow runs in the task as in production),
`publish()` (a flow with a graph, published and active) and readers of what the bot sent."""

import pytest

from flows import services
from flows.models import Flow, FlowRun
from tenants.context import tenant_context
from tickets.models import Message, Ticket
from whatsapp.management.commands.simulate_inbound import cloud_message_body
from whatsapp.tests.conftest import fake_graph
from whatsapp.tests.fakes import FakeServer
from whatsapp.tests.inbound_fixtures import cloud_connection, deliver

CUSTOMER = "5511987650001"


@pytest.fixture(autouse=True)
def _private_urls_allowed(settings):
    """The HTTP fakes listen on 127.0.0.1."""
    settings.FLOWS_HTTP_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def say(cloud_connection, deliver):
    """say("text") → the customer's message arrives; say(reply_id="x", text="Label") taps a button."""

    def _say(text: str = "", *, reply_id: str = "", wa_id: str = CUSTOMER):
        if reply_id:
            message = {
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": reply_id, "title": text}},
            }
        else:
            message = {"type": "text", "text": {"body": text}}
        deliver(
            cloud_connection,
            cloud_message_body(connection=cloud_connection, wa_id=wa_id, name="Maria Souza", message=message),
        )

    return _say


@pytest.fixture
def publish(tenant, admin_user):
    """publish(graph, trigger_type="keyword", trigger_config=...) → an active flow with that graph."""

    def _publish(graph, *, trigger_type=Flow.Trigger.KEYWORD, trigger_config=None, name="Bot"):
        if trigger_config is None and trigger_type == Flow.Trigger.KEYWORD:
            trigger_config = {"keywords": ["oi"], "match": "exact"}
        with tenant_context(tenant):
            flow = services.flow_create(
                tenant=tenant, actor=admin_user, name=name, trigger_type=trigger_type,
                trigger_config=trigger_config or {}, graph=graph,
            )  # fmt: skip
            services.flow_publish(flow=flow)
            return services.flow_update(flow=flow, is_active=True)

    return _publish


@pytest.fixture
def bot_texts(tenant):
    def _texts() -> list[str]:
        with tenant_context(tenant):
            return list(
                Message.objects.filter(sender_type=Message.SenderType.BOT).order_by("id").values_list("text", flat=True)
            )

    return _texts


@pytest.fixture
def the_ticket(tenant):
    def _ticket() -> Ticket:
        with tenant_context(tenant):
            return Ticket.objects.select_related("queue", "assignee", "contact").get(contact__wa_id=CUSTOMER)

    return _ticket


@pytest.fixture
def the_run(tenant):
    def _run() -> FlowRun:
        with tenant_context(tenant):
            return FlowRun.objects.select_related("flow_version").latest("id")

    return _run


@pytest.fixture
def http_server():
    with FakeServer() as server:
        yield server
