"""/api/v1/tags and /api/v1/contact-fields."""

import pytest

from crm.models import Contact, ContactFieldDefinition, Tag
from crm.tests.factories import ContactFactory, ContactFieldDefinitionFactory, TagFactory
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


def test_tag_crud_and_case_insensitive_uniqueness(tenant, supervisor):
    response = supervisor.post("/api/v1/tags", {"name": "VIP", "color": "#22C55E"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["color"] == "#22c55e"
    duplicate = supervisor.post("/api/v1/tags", {"name": "vip"}, format="json")
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "tag_exists"
    pk = response.json()["id"]
    assert supervisor.patch(f"/api/v1/tags/{pk}", {"name": "Gold"}, format="json").json()["name"] == "Gold"
    assert supervisor.delete(f"/api/v1/tags/{pk}").status_code == 204
    assert Tag.all_tenants.count() == 0


def test_agents_read_tags_and_fields_but_do_not_write_them(tenant, agent):
    TagFactory(tenant=tenant, name="vip")
    ContactFieldDefinitionFactory(tenant=tenant, key="cpf")
    assert [tag["name"] for tag in agent.get("/api/v1/tags").json()["results"]] == ["vip"]
    assert [field["key"] for field in agent.get("/api/v1/contact-fields").json()] == ["cpf"]
    assert agent.post("/api/v1/tags", {"name": "x"}, format="json").status_code == 403
    assert agent.post("/api/v1/contact-fields", {"key": "y", "label": "Y"}, format="json").status_code == 403


def test_contact_field_rules(tenant, admin):
    url = "/api/v1/contact-fields"
    choice = admin.post(url, {"key": "plan", "label": "Plano", "field_type": "choice", "choices": []}, format="json")
    assert choice.status_code == 400
    assert choice.json()["code"] == "invalid_contact_field"
    created = admin.post(
        url, {"key": "plan", "label": "Plano", "field_type": "choice", "choices": ["basic", "pro"]}, format="json"
    )
    assert created.status_code == 201, created.content
    assert admin.post(url, {"key": "plan", "label": "Outro"}, format="json").json()["code"] == "contact_field_exists"
    pk = created.json()["id"]
    renamed = admin.patch(f"{url}/{pk}", {"key": "tier"}, format="json")
    assert renamed.json()["key"] == "plan"  # read-only after creation
    assert admin.patch(f"{url}/{pk}", {"label": "Plano atual"}, format="json").json()["label"] == "Plano atual"


def test_deleting_a_field_removes_its_values(tenant, admin):
    definition = ContactFieldDefinitionFactory(tenant=tenant, key="cpf")
    contact = ContactFactory(tenant=tenant, custom_fields={"cpf": "1", "other": 2})
    assert admin.delete(f"/api/v1/contact-fields/{definition.pk}").status_code == 204
    contact.refresh_from_db()
    assert contact.custom_fields == {"other": 2}
    with tenant_context(tenant):
        assert not ContactFieldDefinition.objects.exists()
        assert Contact.objects.count() == 1
