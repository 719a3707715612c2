"""Message templates against the fake Graph API: sync (all pages), submission, preview, the API."""

import pytest

from accounts.models import Role
from tenants.context import tenant_context
from whatsapp import templates
from whatsapp.models import MessageTemplate
from whatsapp.tests.factories import ConnectionFactory

NAMED = [
    {"type": "HEADER", "format": "TEXT", "text": "Pedido {{order}}", "example": {"header_text": ["860198"]}},
    {
        "type": "BODY",
        "text": "Olá {{first_name}}, seu pedido {{order}} saiu para entrega.",
        "example": {
            "body_text_named_params": [
                {"param_name": "first_name", "example": "Pablo"},
                {"param_name": "order", "example": "860198"},
            ]
        },
    },
    {"type": "FOOTER", "text": "Loja Prosa"},
    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Parar promoções"}]},
]


@pytest.fixture
def waba_connection(cloud_connection, fake_graph):
    cloud_connection.waba_id = fake_graph.waba_id
    cloud_connection.save(update_fields=["waba_id"])
    return cloud_connection


def test_variables_and_examples_positional_and_named():
    positional = [{"type": "BODY", "text": "Oi {{1}}, {{2}} e {{1}}", "example": {"body_text": [["Ana", "SP"]]}}]
    assert templates.template_variables(positional) == {"body": ["1", "2"]}
    assert templates.template_examples(positional) == {"body": {"1": "Ana", "2": "SP"}}
    assert templates.template_variables(NAMED) == {"header": ["order"], "body": ["first_name", "order"]}
    assert templates.template_examples(NAMED)["body"] == {"first_name": "Pablo", "order": "860198"}


def test_preview_fills_given_values_then_examples():
    preview = templates.template_render(NAMED, {"body": {"first_name": "Maria"}})
    assert preview == {
        "header": "Pedido 860198",
        "header_format": "TEXT",
        "body": "Olá Maria, seu pedido 860198 saiu para entrega.",
        "footer": "Loja Prosa",
        "buttons": ["Parar promoções"],
    }


def test_send_components_name_their_parameters_and_refuse_a_missing_value(tenant):
    template = MessageTemplate(components=NAMED, variables=templates.template_variables(NAMED))
    values = {"header": {"order": "77"}, "body": {"first_name": "Ana", "order": "77"}}
    assert templates.template_send_components(template, values)[1] == {
        "type": "body",
        "parameters": [
            {"type": "text", "text": "Ana", "parameter_name": "first_name"},
            {"type": "text", "text": "77", "parameter_name": "order"},
        ],
    }
    with pytest.raises(templates.TemplateError) as caught:
        templates.template_send_components(template, {"header": {"order": "77"}, "body": {"order": "77"}})
    assert str(caught.value.detail) == "No value for the template variable {{first_name}}."


def test_sync_follows_every_page_and_mirrors_changes(tenant, waba_connection, fake_graph):
    for n in range(130):  # two pages of 100
        fake_graph.add_template(f"modelo_{n:03d}", components=[{"type": "BODY", "text": "Oi {{1}}"}])
    fake_graph.add_template("recusado", status="REJECTED", rejected_reason="INVALID_FORMAT")
    with tenant_context(tenant):
        assert templates.templates_sync(connection=waba_connection) == {"created": 131, "updated": 0, "deleted": 0}
        assert len(fake_graph.requests_to("GET", fake_graph.templates_path)) == 2
        rejected = MessageTemplate.objects.get(name="recusado")
        assert (rejected.status, rejected.rejected_reason) == ("REJECTED", "INVALID_FORMAT")
        assert MessageTemplate.objects.get(name="modelo_000").variables == {"body": ["1"]}

        fake_graph.templates[0]["status"] = "PAUSED"
        del fake_graph.templates[1]
        assert templates.templates_sync(connection=waba_connection) == {"created": 0, "updated": 1, "deleted": 1}
        assert MessageTemplate.objects.get(name="modelo_000").status == "PAUSED"
        assert not MessageTemplate.objects.filter(name="modelo_001").exists()


def test_submit_sends_the_template_to_meta_and_keeps_it_pending(tenant, waba_connection, fake_graph):
    with tenant_context(tenant):
        template = templates.template_submit(
            connection=waba_connection, name="entrega", language="pt_BR", category="UTILITY", components=NAMED
        )
        assert (template.status, template.category) == ("PENDING", "UTILITY")
        assert template.provider_template_id == fake_graph.templates[-1]["id"]
        assert fake_graph.requests_to("POST", fake_graph.templates_path)[0].json()["components"] == NAMED
        with pytest.raises(templates.TemplateError):
            templates.template_submit(
                connection=waba_connection, name="Com Espaço", language="pt_BR", category="UTILITY", components=NAMED
            )
        assert len(fake_graph.requests_to("POST", fake_graph.templates_path)) == 1


def test_evolution_connections_have_no_templates(tenant):
    connection = ConnectionFactory(tenant=tenant, evolution=True)
    with tenant_context(tenant), pytest.raises(templates.TemplateNotSupported):
        templates.templates_sync(connection=connection)


# --- API -----------------------------------------------------------------------------------


def test_api_sync_list_filter_detail_and_preview(tenant, waba_connection, fake_graph, make_member, client_for):
    fake_graph.add_template("boas_vindas", components=NAMED)
    fake_graph.add_template("pendente", status="PENDING")
    staff = client_for(make_member(tenant, Role.SUPERVISOR), tenant)
    agent = client_for(make_member(tenant, Role.AGENT), tenant)

    assert agent.post("/api/v1/whatsapp/templates/sync", {}, format="json").status_code == 403
    response = staff.post("/api/v1/whatsapp/templates/sync", {"connection": waba_connection.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {str(waba_connection.pk): {"created": 2, "updated": 0, "deleted": 0}}

    listed = agent.get("/api/v1/whatsapp/templates/", {"status": "APPROVED"}).json()
    assert [t["name"] for t in listed["results"]] == ["boas_vindas"]
    template_id = listed["results"][0]["id"]
    detail = agent.get(f"/api/v1/whatsapp/templates/{template_id}/").json()
    assert detail["variables"] == {"header": ["order"], "body": ["first_name", "order"]}
    preview = agent.post(
        f"/api/v1/whatsapp/templates/{template_id}/preview", {"values": {"body": {"first_name": "Lia"}}}, format="json"
    )
    assert preview.json()["body"] == "Olá Lia, seu pedido 860198 saiu para entrega."


def test_api_create_submits(tenant, other_tenant, waba_connection, fake_graph, admin_user, client_for):
    client = client_for(admin_user, tenant)
    body = {"connection": waba_connection.pk, "name": "nova", "language": "pt_BR", "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Oi {{1}}", "example": {"body_text": [["Ana"]]}}]}  # fmt: skip
    response = client.post("/api/v1/whatsapp/templates/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "PENDING"
    other = ConnectionFactory(tenant=other_tenant)  # another tenant's connection is like a missing one
    response = client.post("/api/v1/whatsapp/templates/", {**body, "connection": other.pk}, format="json")
    assert response.status_code == 400
    assert len(fake_graph.requests_to("POST", fake_graph.templates_path)) == 1
