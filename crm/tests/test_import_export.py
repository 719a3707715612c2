"""CSV import (POST /contacts/import → task → /contact-imports/{id}) and export (GET /contacts/export)."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm import services
from crm.models import Contact, ContactFieldDefinition, ContactImport
from crm.tests.factories import ContactFactory, ContactFieldDefinitionFactory, TagFactory
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/contacts/import"
EXPORT = "/api/v1/contacts/export"


def upload(client, content: bytes, name="contacts.csv"):
    return client.post(IMPORT, {"file": SimpleUploadedFile(name, content, content_type="text/csv")}, format="multipart")


def contacts(tenant):
    with tenant_context(tenant):
        return {c.phone: c for c in Contact.objects.prefetch_related("tags")}


def test_import_creates_merges_and_reports_row_errors(
    tenant, supervisor, published, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(services, "IMPORT_BATCH_SIZE", 2)
    ContactFieldDefinitionFactory(tenant=tenant, key="plan", field_type=ContactFieldDefinition.FieldType.CHOICE,
                                  choices=["basic", "pro"])  # fmt: skip
    existing = ContactFactory(tenant=tenant, name="Old name", phone="5511987654321", email="")
    existing.tags.add(TagFactory(tenant=tenant, name="cliente"))
    content = (
        "\ufeffname;phone;email;tags;plan;ignored\n"
        "João Araújo;(11) 8765-4321;joao@example.com;vip;pro;x\n"  # the existing contact, without the 9
        "Maria;+55 21 91234-5678;;vip, nova;basic;\n"
        "Sem número;abc;;;;\n"
        "Bad email;21 3456-7890;not-an-email;;;\n"
        "Bad plan;21 3456-7891;;;gold;\n"
        "Maria de novo;5521912345678;maria@example.com;;;\n"  # same number as row 3: merged
    ).encode()

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(supervisor, content)

    assert response.status_code == 202, response.content
    contact_import = ContactImport.all_tenants.get(pk=response.json()["id"])
    assert contact_import.status == ContactImport.Status.COMPLETED
    assert (contact_import.total_rows, contact_import.processed_rows) == (6, 6)
    assert (contact_import.created_count, contact_import.updated_count, contact_import.error_count) == (1, 2, 3)
    assert [error["row"] for error in contact_import.errors] == [4, 5, 6]
    assert "abc" in contact_import.errors[0]["message"]
    assert "plan" in contact_import.errors[2]["message"]

    found = contacts(tenant)
    assert set(found) == {"5511987654321", "5521912345678"}
    joao = found["5511987654321"]
    assert (joao.pk, joao.name, joao.email, joao.custom_fields) == (
        existing.pk,
        "João Araújo",
        "joao@example.com",
        {"plan": "pro"},
    )
    assert sorted(tag.name for tag in joao.tags.all()) == ["cliente", "vip"]
    maria = found["5521912345678"]
    assert (maria.name, maria.email, maria.custom_fields) == ("Maria de novo", "maria@example.com", {"plan": "basic"})
    assert sorted(tag.name for tag in maria.tags.all()) == ["nova", "vip"]

    progress = [data["processed_rows"] for _, kind, data in published if kind == "contact_import.updated"]
    assert progress == [0, 2, 4, 6, 6]
    assert {tuple(groups) for groups, kind, _ in published if kind == "contact_import.updated"} == {
        (f"tenant.{tenant.pk}",)
    }
    assert published[-1][2]["status"] == "completed"

    detail = supervisor.get(f"/api/v1/contact-imports/{contact_import.pk}").json()
    assert detail["status"] == "completed"
    assert detail["errors"][0]["row"] == 4
    assert [item["id"] for item in supervisor.get("/api/v1/contact-imports").json()["results"]] == [contact_import.pk]


def test_import_with_comma_delimiter_and_cp1252(tenant, admin, django_capture_on_commit_callbacks):
    content = "name,phone\nJosé,11 98765-0001\n".encode("cp1252")
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(admin, content).status_code == 202
    assert contacts(tenant)["5511987650001"].name == "José"


def test_a_file_without_a_phone_column_is_refused_at_once(tenant, admin):
    response = upload(admin, b"name,email\nAna,ana@example.com\n")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_import_file"
    assert ContactImport.all_tenants.count() == 0


def test_agents_cannot_import_or_export(agent):
    assert upload(agent, b"phone\n11987650001\n").status_code == 403
    assert agent.get(EXPORT).status_code == 403
    assert agent.get("/api/v1/contact-imports").status_code == 403


def test_a_second_delivery_of_the_task_does_nothing(tenant, admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pk = upload(admin, b"phone\n11987650001\n").json()["id"]
    with tenant_context(tenant):
        assert services.contact_import_process(contact_import_id=pk) is None
    assert ContactImport.all_tenants.get(pk=pk).created_count == 1


def _rows(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_export_applies_the_list_filters(tenant, other_tenant, supervisor):
    ContactFieldDefinitionFactory(tenant=tenant, key="plan")
    vip = TagFactory(tenant=tenant, name="vip")
    ana = ContactFactory(tenant=tenant, name="Ana", phone="5511987650001", custom_fields={"plan": "pro"})
    ana.tags.add(vip, TagFactory(tenant=tenant, name="atacado"))
    ContactFactory(tenant=tenant, name="Bruno", phone="5511987650002")
    ContactFactory(tenant=other_tenant, name="Ana de fora")

    rows = _rows(supervisor.get(EXPORT, {"tag": "vip"}))
    assert rows[0] == ["name", "phone", "email", "tags", "opted_out", "notes", "created_at", "plan"]
    assert [row[:5] + row[7:] for row in rows[1:]] == [["Ana", "5511987650001", "", "atacado;vip", "false", "pro"]]
    assert [row[0] for row in _rows(supervisor.get(EXPORT))[1:]] == ["Ana", "Bruno"]


def test_export_queries_do_not_grow_with_rows(tenant, admin, django_assert_num_queries):
    tags = [TagFactory(tenant=tenant) for _ in range(2)]
    for _ in range(30):
        ContactFactory(tenant=tenant).tags.add(*tags)
    # authentication (1), field definitions, contacts (one chunk), their tags
    with django_assert_num_queries(4):
        assert len(_rows(admin.get(EXPORT))) == 31
