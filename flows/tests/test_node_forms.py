"""The editor's node forms: derived from the graph schema (every node type, every setting), with
choices from the flow's own tenant only; the versions, load and rollback commands of the editor."""

import json

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.models import Role
from ai.tests.factories import AIAgentFactory
from campaigns.tests.factories import MessageTemplateFactory
from crm.tests.factories import ContactFieldDefinitionFactory, TagFactory
from flows import services
from flows.node_forms import FORMS, _describe, node_form_descriptions
from flows.schema import NODE_EXAMPLES, NODE_SCHEMAS, NODE_TYPES, graph_validate
from flows.tests.factories import FlowFactory
from flows.tests.graphs import graph
from tenants.context import tenant_context
from tenants.selectors import SESSION_TENANT_KEY
from tickets.tests.factories import QueueFactory
from whatsapp.models import MessageTemplate


def _covered(fields, schema, where):
    """Every property of `schema` has a field, recursively into row items."""
    names = {field["name"] for field in fields}
    assert set(schema.get("properties") or {}) == names, where
    for field in fields:
        assert field["required"] == (field["name"] in (schema.get("required") or [])), (where, field["name"])
        if field["widget"] == "rows":
            _covered(field["item_fields"], schema["properties"][field["name"]]["items"], f"{where}.{field['name']}")


@pytest.mark.parametrize("kind", NODE_TYPES)
def test_every_node_type_has_a_form_covering_every_setting_of_its_schema(kind):
    form = node_form_descriptions()[kind]
    assert form["label"] and form["help"]
    _covered(form["fields"], NODE_SCHEMAS[kind], kind)
    for field in form["fields"]:
        enum = NODE_SCHEMAS[kind]["properties"][field["name"]].get("enum")
        if enum:  # a select offers exactly what validation accepts
            assert field["widget"] == "select" and [value for value, _label in field["choices"]] == enum
    for mode in form.get("modes", []):
        assert set(mode["fields"]) <= {field["name"] for field in form["fields"]}


def test_the_forms_know_no_node_type_the_schema_lacks_and_no_setting_it_lacks():
    assert set(FORMS) == set(NODE_SCHEMAS)
    with pytest.raises(ValueError, match="'colour' is not a property"):
        _describe({"name": "colour", "widget": "text", "label": "Colour"}, NODE_SCHEMAS["menu"], [], "menu")


def test_condition_operators_offered_per_subject_are_operators_of_the_schema():
    rules = next(field for field in node_form_descriptions()["condition"]["fields"] if field["name"] == "rules")
    source, operator = rules["item_fields"][0], rules["item_fields"][2]
    allowed = {value for value, _label in operator["choices"]}
    by_source = operator["choices_by"]["source"]
    assert set(by_source) == {value for value, _label in source["choices"]}
    assert all(set(operators) <= allowed for operators in by_source.values())


def test_the_examples_new_nodes_start_with_are_still_valid():
    nodes = [("start", "start", {})] + [(kind, kind, NODE_EXAMPLES[kind]) for kind in NODE_TYPES if kind != "start"]
    errors = graph_validate(graph(*nodes, edges=[("start", "send_message")]))
    assert errors == {}


def test_labels_and_validation_messages_are_translated_to_portuguese():
    with translation.override("pt-br"):
        forms = node_form_descriptions()
        errors = graph_validate(graph(("start", "start", {}), ("w", "wait", {"seconds": 0}), edges=[("start", "w")]))
    assert forms["menu"]["label"] == "Menu"
    assert forms["handoff"]["label"] == "Atribuir a uma fila ou atendente"
    assert errors == {"w": ["seconds: Deve ser no mínimo 1."]}


def test_errors_name_the_field_they_belong_to():
    bad = graph(
        ("start", "start", {}),
        ("ask", "ask", {"text": "?", "variable": "1x", "validation": "regex", "pattern": "("}),
        ("menu", "menu", {"text": "?", "options": [{"id": "a", "label": ""}]}),
        ("send", "send_message", {}),
        edges=[("start", "ask")],
    )
    errors = graph_validate(bad)
    assert errors["ask"] == [
        "variable: Use letters, digits and _, not starting with a digit.",
        "pattern: Not a valid regular expression: missing ), unterminated subpattern at position 0",
    ]
    assert errors["menu"] == ["options/0/label: This field is required."]
    assert errors["send"] == ["text: Give a text, a media URL or a template."]


# --- the editor page: the tenant's choices --------------------------------------------------------


@pytest.fixture
def admin_client(client, tenant, make_member):
    client.force_login(make_member(tenant, Role.ADMIN, name="Ana Admin"))
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


@pytest.mark.django_db
def test_the_forms_offer_only_the_flows_own_tenants_choices(admin_client, tenant, other_tenant, make_member):
    flow, other_flow = FlowFactory(tenant=tenant, name="Principal"), FlowFactory(tenant=tenant, name="Pós-venda")
    queue = QueueFactory(tenant=tenant, name="Vendas")
    agent = make_member(tenant, Role.AGENT, name="Bia Agente")
    ai_agent = AIAgentFactory(tenant=tenant, name="Lia")
    AIAgentFactory(tenant=tenant, name="Desligado", active=False)
    TagFactory(tenant=tenant, name="vip")
    ContactFieldDefinitionFactory(tenant=tenant, key="cpf", label="CPF")
    MessageTemplateFactory(tenant=tenant, name="boas_vindas", language="pt_BR")
    MessageTemplateFactory(tenant=tenant, name="em_analise", status=MessageTemplate.Status.PENDING)
    # Another workspace's of every kind, never offered.
    FlowFactory(tenant=other_tenant, name="Deles")
    QueueFactory(tenant=other_tenant, name="Fila deles")
    make_member(other_tenant, Role.AGENT, name="Outro Agente")
    AIAgentFactory(tenant=other_tenant, name="Bot deles")
    TagFactory(tenant=other_tenant, name="tag-deles")
    ContactFieldDefinitionFactory(tenant=other_tenant, key="deles", label="Deles")
    MessageTemplateFactory(tenant=other_tenant, name="modelo_deles")

    page = admin_client.get(reverse("admin:flows_flow_editor", args=[flow.pk]))
    assert page.status_code == 200
    choices = page.context["editor_config"]["choices"]
    assert choices["queues"] == [[queue.pk, "Vendas"]]
    assert sorted(name for _id, name in choices["agents"]) == ["Ana Admin", "Bia Agente"]
    assert [agent.pk] == [user_id for user_id, name in choices["agents"] if name == "Bia Agente"]
    assert choices["ai_agents"] == [[ai_agent.pk, "Lia"]]
    assert choices["flows"] == [[other_flow.pk, "Pós-venda"]]  # not itself, not another tenant's
    assert choices["tags"] == ["vip"]
    assert choices["contact_fields"] == [["cpf", "CPF"]]
    assert choices["templates"] == [{"name": "boas_vindas", "language": "pt_BR", "variables": {"body": ["1", "2"]}}]
    # The config reaches the page as JSON (the script reads it), with the forms of every type.
    config = json.loads(json.dumps(page.context["editor_config"]))
    assert set(config["forms"]) == set(NODE_TYPES)
    assert "Fila deles" not in page.content.decode()


@pytest.mark.django_db
def test_the_editor_lists_opens_and_rolls_back_versions(admin_client, tenant):
    with tenant_context(tenant):
        flow = services.flow_create(tenant=tenant, actor=None, name="Versões")

    def command(name, payload=None):
        url = reverse("admin:flows_flow_editor_command", args=[flow.pk, name])
        return admin_client.post(url, json.dumps(payload or {}), content_type="application/json")

    v1 = graph(("start", "start", {}), ("hi", "send_message", {"text": "v1"}), edges=[("start", "hi")])
    v2 = graph(("start", "start", {}), ("hi", "send_message", {"text": "v2"}), edges=[("start", "hi")])
    assert command("publish", {"graph": v1}).json()["published"] == 1
    assert command("publish", {"graph": v2}).json()["published"] == 2

    listed = command("versions").json()
    assert listed["published"] == 2
    assert [(v["number"], v["published_at"] is not None, v["nodes"]) for v in listed["versions"]] == [
        (2, True, 2),
        (1, True, 2),
    ]
    assert command("load", {"number": 1}).json() == {"version": 1, "graph": v1}
    assert command("load", {"number": 9}).json()["code"] == "flow_version_not_found"

    rolled = command("rollback").json()
    assert rolled["published"] == 1
    flow.refresh_from_db()
    assert flow.published_version.number == 1
    assert command("rollback").json()["code"] == "flow_no_earlier_version"
    assert command("rollback", {"number": 2}).json()["published"] == 2
    assert command("rollback", {"number": "2"}).status_code == 400
    assert command("teleport").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["save", "publish", "test", "versions", "load", "rollback"])
def test_every_editor_command_on_another_tenants_flow_is_a_404(admin_client, other_tenant, command):
    theirs = FlowFactory(tenant=other_tenant)
    url = reverse("admin:flows_flow_editor_command", args=[theirs.pk, command])
    assert admin_client.post(url, "{}", content_type="application/json").status_code == 404
    theirs.refresh_from_db()
    assert theirs.published_version_id is None
