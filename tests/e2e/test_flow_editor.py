"""The flow editor in a real browser: a flow built with the node forms (a menu with an added option,
connected by dragging and from the form, a message's text), errors shown next to the field and on
the node, the draft published, the test console chatting with it, the graph exported and imported
back as version 2, and a rollback to version 1."""

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
from tickets.tests.factories import QueueFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def flow(transactional_db):
    tenant = TenantFactory(slug="loja-bot", name="Loja Bot", language="en")
    admin = MembershipFactory(
        tenant=tenant, role=Role.ADMIN, user=UserFactory(name="Ana Admin", email="ana@loja.example")
    ).user
    QueueFactory(tenant=tenant, name="Financeiro")
    QueueFactory(tenant=TenantFactory(slug="outra"), name="Fila de outra loja")
    with tenant_context(tenant):
        return services.flow_create(tenant=tenant, actor=admin, name="Boas-vindas")


def test_build_publish_and_chat_with_a_flow_from_the_forms(flow, server, new_page):
    page = new_page()
    log_in(page, "ana@loja.example", PASSWORD)
    page.goto(f"/admin/flows/flow/{flow.pk}/editor/")
    expect(page.locator(".drawflow-node")).to_have_count(1)

    # A menu: its form lists the example's two options; a third one becomes a third output.
    page.get_by_label("Add a node").select_option(label="Menu")
    menu = page.locator(".drawflow-node", has_text="menu_1 · Menu")
    expect(page.locator("#fe-node-type")).to_have_text("Menu")
    options = page.locator("#fe-field-options .fe-row")
    expect(options).to_have_count(2)
    page.get_by_role("button", name="Add an option").click()
    expect(options).to_have_count(3)
    options.nth(2).get_by_label("Label").fill("Financeiro")
    page.locator("#fe-field-variable").fill("escolha")
    expect(menu.locator(".output")).to_have_count(4)  # three options and the fallback
    expect(menu.locator(".fe-outputs")).to_contain_text("3 · Financeiro")

    # start → menu by dragging on the canvas.
    page.locator(".drawflow-node.fe-start .output").drag_to(menu.locator(".input"))
    expect(page.locator(".drawflow .connection")).to_have_count(1)

    # A message whose text is left empty: the error shows next to the field and on the node.
    page.get_by_label("Add a node").select_option(label="Send message")
    message = page.locator(".drawflow-node", has_text="send_message_1 · Send message")
    page.locator("#fe-field-text").fill("")
    menu.click()
    page.locator("#fe-node-outputs select[data-handle=option_3]").select_option(label="send_message_1 · Send message")
    expect(page.locator(".drawflow .connection")).to_have_count(2)
    page.get_by_role("button", name="Save and publish").click()
    expect(message).to_have_class(re.compile(r"\bfe-invalid\b"))
    expect(message.locator(".fe-node-errors")).to_contain_text("Text: Give a text, a media URL or a template.")
    message.click()
    field = page.locator(".fe-field[data-field=text]")
    expect(field.locator(".fe-field-errors")).to_have_text("Give a text, a media URL or a template.")

    # The variable hint inserts {{escolha}} into the text.
    page.locator("#fe-field-text").fill("Certo: ")
    page.locator(".fe-chip", has_text="{{escolha}}").click()
    expect(page.locator("#fe-field-text")).to_have_value("Certo: {{escolha}}")
    page.get_by_role("button", name="Save and publish").click()
    expect(page.locator("#fe-status")).to_contain_text("Published version 1")
    expect(page.locator(".drawflow-node.fe-invalid")).to_have_count(0)

    # The raw JSON escape hatch shows the same settings.
    page.get_by_role("button", name="Raw JSON").click()
    expect(page.locator("#fe-node-data")).to_have_value(re.compile(r'"text": "Certo: \{\{escolha\}\}"'))
    page.get_by_role("button", name="Form").click()

    page.locator("#fe-say-text").fill("oi")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".fe-msg.fe-bot")).to_have_count(1)
    expect(page.locator(".fe-msg.fe-bot").first).to_contain_text("*3* - Financeiro")
    page.locator("#fe-say-text").fill("3")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".fe-msg.fe-bot").nth(1)).to_have_text("Certo: Financeiro")

    # Export, edit the JSON, import it back and publish it as version 2; then roll back to 1.
    page.get_by_role("button", name="Export JSON").click()
    exported = page.locator("#fe-json").input_value()
    page.locator("#fe-json").fill(exported.replace("Certo: ", "Ok: "))
    page.get_by_role("button", name="Load into the editor").click()
    expect(page.locator(".drawflow-node", has_text="Ok: {{escolha}}")).to_have_count(1)
    expect(page.locator(".drawflow .connection")).to_have_count(2)
    page.get_by_role("button", name="Save and publish").click()
    expect(page.locator("#fe-status")).to_contain_text("Published version 2")
    page.locator("#fe-versions summary").click()
    expect(page.locator("#fe-versions-list li")).to_have_count(2)
    page.get_by_role("button", name="Roll back to the previous published version").click()
    expect(page.locator("#fe-versions-list li[data-number='1']")).to_contain_text("published now")
    menu.click()
    page.locator(".fe-side").evaluate("side => { side.scrollTop = 0; }")
    screenshot(page, "flow-editor")

    with tenant_context(flow.tenant):
        published = Flow.objects.get(pk=flow.pk).published_version
    nodes = {node["id"]: node for node in published.graph["nodes"]}
    assert [option["label"] for option in nodes["menu_1"]["data"]["options"]] == ["Vendas", "Suporte", "Financeiro"]
    assert nodes["send_message_1"]["data"] == {"text": "Certo: {{escolha}}"}
    assert {"source": "start", "source_handle": "next", "target": "menu_1"} in published.graph["edges"]
    assert {"source": "menu_1", "source_handle": "option_3", "target": "send_message_1"} in published.graph["edges"]
