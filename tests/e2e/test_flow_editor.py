"""The flow editor in a real browser: the graph drawn by drawflow, a node's settings edited, the
draft saved and published with errors shown on the node, and the test console answering."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from accounts.tests.factories import PASSWORD, MembershipFactory, UserFactory
from flows import services
from flows.models import Flow
from tenants.context import tenant_context
from tenants.tests.factories import TenantFactory
from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.e2e

GRAPH = {
    "nodes": [
        {"id": "start", "type": "start", "data": {}, "position": {"x": 40, "y": 60}},
        {"id": "ask", "type": "ask", "data": {"text": "Nome?"}, "position": {"x": 320, "y": 60}},
        {"id": "hi", "type": "send_message", "data": {"text": "Oi {{nome}}"}, "position": {"x": 600, "y": 60}},
    ],
    "edges": [
        {"source": "start", "target": "ask"},
        {"source": "ask", "source_handle": "next", "target": "hi"},
    ],
}


@pytest.fixture
def flow(transactional_db):
    tenant = TenantFactory(slug="loja-bot", name="Loja Bot", language="en")
    admin = MembershipFactory(
        tenant=tenant, role=Role.ADMIN, user=UserFactory(name="Ana Admin", email="ana@loja.example")
    ).user
    with tenant_context(tenant):
        return services.flow_create(tenant=tenant, actor=admin, name="Boas-vindas", graph=GRAPH)


def test_edit_publish_and_chat_with_a_flow(flow, server, new_page):
    page = new_page()
    log_in(page, "ana@loja.example", PASSWORD)
    page.goto(f"/admin/flows/flow/{flow.pk}/editor/")
    expect(page.locator(".drawflow-node")).to_have_count(3)
    expect(page.locator(".drawflow .connection")).to_have_count(2)

    page.get_by_role("button", name="Save and publish").click()
    ask = page.locator(".drawflow-node", has_text="ask · ask")
    expect(ask).to_have_class(re.compile(r"\bfe-invalid\b"))
    expect(ask.locator(".fe-node-errors")).to_contain_text("'variable' is a required property")

    ask.click()
    page.locator("#fe-node-data").fill('{"text": "Nome?", "variable": "nome"}')
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("button", name="Save and publish").click()
    expect(page.locator("#fe-status")).to_contain_text("Published version 1")
    expect(ask.locator(".fe-node-errors")).to_have_count(0)

    page.locator("#fe-say-text").fill("oi")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".fe-msg.fe-bot")).to_have_text(["Nome?"])
    page.locator("#fe-say-text").fill("Ana")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".fe-msg.fe-bot")).to_have_text(["Nome?", "Oi Ana"])
    screenshot(page, "flow-editor")

    with tenant_context(flow.tenant):
        published = Flow.objects.get(pk=flow.pk).published_version
    assert published.graph["nodes"][1]["data"] == {"text": "Nome?", "variable": "nome"}
    assert {"source": "ask", "source_handle": "next", "target": "hi"} in published.graph["edges"]
