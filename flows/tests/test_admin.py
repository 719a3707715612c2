"""The flows admin inside a tenant: create with a graph, publish, roll back; runs with traces."""

import json

import pytest
from django.urls import reverse

from accounts.models import Role
from flows.models import Flow
from flows.tests.factories import FlowRunFactory, FlowTraceFactory
from flows.tests.graphs import graph
from tenants.context import tenant_context
from tenants.selectors import SESSION_TENANT_KEY

pytestmark = pytest.mark.django_db
INLINE = {"versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 0}


@pytest.fixture
def admin_client(client, tenant, make_member):
    client.force_login(make_member(tenant, Role.ADMIN))
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


def test_create_with_a_graph_publish_and_roll_back(admin_client, tenant):
    v1 = graph(("start", "start", {}), ("hi", "send_message", {"text": "v1"}), edges=[("start", "hi")])
    response = admin_client.post(
        reverse("admin:flows_flow_add"),
        {"name": "Boas-vindas", "description": "", "trigger_type": "keyword",
         "trigger_config": json.dumps({"keywords": ["oi"]}), "priority": 100, "graph": json.dumps(v1), **INLINE},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(tenant):
        flow = Flow.objects.get(name="Boas-vindas")
        assert flow.versions.get().graph == v1
    changelist = reverse("admin:flows_flow_changelist")
    admin_client.post(changelist, {"action": "publish_latest", "_selected_action": [flow.pk]})
    flow.refresh_from_db()
    assert flow.published_version.number == 1

    v2 = graph(("start", "start", {}), ("hi", "send_message", {"text": "v2"}), edges=[("start", "hi")])
    change = reverse("admin:flows_flow_change", args=[flow.pk])
    page = admin_client.get(change)
    assert "v1" in page.content.decode()
    response = admin_client.post(
        change,
        {"name": "Boas-vindas", "description": "", "trigger_type": "keyword",
         "trigger_config": json.dumps({"keywords": ["oi"]}), "priority": 100, "graph": json.dumps(v2),
         "is_active": "on", **INLINE},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    admin_client.post(changelist, {"action": "publish_latest", "_selected_action": [flow.pk]})
    flow.refresh_from_db()
    assert (flow.published_version.number, flow.is_active) == (2, True)
    admin_client.post(changelist, {"action": "rollback", "_selected_action": [flow.pk]})
    flow.refresh_from_db()
    assert flow.published_version.number == 1


def test_an_invalid_trigger_is_shown_on_the_form(admin_client, tenant):
    response = admin_client.post(
        reverse("admin:flows_flow_add"),
        {
            "name": "X",
            "trigger_type": "inactivity",
            "trigger_config": json.dumps({"minutes": 0}),
            "priority": 1,
            **INLINE,
        },
    )
    assert response.status_code == 200
    assert "minutes" in response.context["adminform"].form.errors["trigger_config"][0]
    with tenant_context(tenant):
        assert not Flow.objects.exists()


def test_a_run_page_shows_its_trace(admin_client, tenant):
    run = FlowRunFactory(tenant=tenant)
    FlowTraceFactory(tenant=tenant, run=run, node_id="ask_cpf", node_type="ask")
    page = admin_client.get(reverse("admin:flows_flowrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert "ask_cpf" in page.content.decode()


def test_the_editor_page_saves_validates_publishes_and_tests(admin_client, tenant):
    with tenant_context(tenant):
        from flows import services

        flow = services.flow_create(tenant=tenant, actor=None, name="Editor")
    page = admin_client.get(reverse("admin:flows_flow_editor", args=[flow.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "vendor/drawflow/drawflow.min.js" in body and "flows/editor.js" in body
    assert page.context["editor_config"]["graph"]["nodes"][0]["type"] == "start"

    def command(name, payload):
        url = reverse("admin:flows_flow_editor_command", args=[flow.pk, name])
        return admin_client.post(url, json.dumps(payload), content_type="application/json")

    broken = graph(("start", "start", {}), ("ask", "ask", {"text": "?"}), edges=[("start", "ask")])
    saved = command("publish", {"graph": broken})
    assert saved.status_code == 200
    assert saved.json() == {"version": 1, "published": None, "errors": {"ask": ["variable: This field is required."]}}

    good = graph(
        ("start", "start", {}),
        ("ask", "ask", {"text": "Nome?", "variable": "nome"}),
        ("hi", "send_message", {"text": "Oi {{nome}}"}),
        edges=[("start", "ask"), ("ask", "hi")],
    )
    published = command("publish", {"graph": good})
    assert published.json() == {"version": 1, "published": 1, "errors": {}}

    first = command("test", {"text": "oi"}).json()
    assert [reply["text"] for reply in first["replies"]] == ["Nome?"]
    second = command("test", {"text": "Ana", "state": first["state"]}).json()
    assert [reply["text"] for reply in second["replies"]] == ["Oi Ana"]


def test_supervisors_open_the_editor_but_another_tenants_flow_is_a_404(client, tenant, other_tenant, make_member):
    from flows.tests.factories import FlowFactory

    supervisor = make_member(tenant, Role.SUPERVISOR)
    client.force_login(supervisor)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    mine, theirs = FlowFactory(tenant=tenant), FlowFactory(tenant=other_tenant)
    assert client.get(reverse("admin:flows_flow_editor", args=[mine.pk])).status_code == 200
    assert client.get(reverse("admin:flows_flow_editor", args=[theirs.pk])).status_code == 404
    url = reverse("admin:flows_flow_editor_command", args=[theirs.pk, "save"])
    assert client.post(url, "{}", content_type="application/json").status_code == 404
