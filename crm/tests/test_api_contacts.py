"""/api/v1/contacts: CRUD, phone rules, custom fields, tags, search, filters, permissions, queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Contact, ContactFieldDefinition, Tag
from crm.tests.factories import ContactFactory, ContactFieldDefinitionFactory, TagFactory
from tenants.context import tenant_context
from tickets.tests.factories import TicketFactory
from whatsapp.tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/contacts"


def detail(pk):
    return f"{CONTACTS}/{pk}"


def count(tenant, **filters):
    with tenant_context(tenant):
        return Contact.objects.filter(**filters).count()


# --- create -------------------------------------------------------------------------------------


def test_create_normalizes_the_phone_and_sets_tags_by_id_and_name(tenant, admin, published):
    vip = TagFactory(tenant=tenant, name="VIP")
    response = admin.post(
        CONTACTS,
        {"name": " João Silva ", "phone": "+55 (11) 98765-4321", "email": "joao@example.com",
         "tags": [vip.pk, "atacado", "vip"], "notes": "Prefere manhã"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "João Silva"
    assert body["phone"] == "5511987654321"
    assert body["email"] == "joao@example.com"
    assert sorted(tag["name"] for tag in body["tags"]) == ["VIP", "atacado"]
    assert body["notes"] == "Prefere manhã"
    assert body["wa_id"] == ""
    with tenant_context(tenant):
        assert Tag.objects.filter(name="atacado").count() == 1
    assert [(event_type, data["id"]) for _, event_type, data in published] == [("contact.updated", body["id"])]


def test_a_national_number_is_read_as_brazilian(admin):
    response = admin.post(CONTACTS, {"phone": "(21) 3456-7890"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["phone"] == "552134567890"


@pytest.mark.parametrize("phone", ["abc", "123", "+55 11 9", "9" * 20])
def test_an_invalid_phone_is_400_invalid_phone(tenant, admin, phone):
    response = admin.post(CONTACTS, {"name": "X", "phone": phone}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone"
    assert list(response.json()["fields"]) == ["phone"]
    assert count(tenant) == 0


def test_phone_is_required_on_create(tenant, admin):
    response = admin.post(CONTACTS, {"name": "Sem número"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"phone": ["This field is required."]}
    assert count(tenant) == 0


@pytest.mark.parametrize("phone", ["5511987654321", "551187654321", "+55 11 8765-4321", "(11) 98765-4321"])
def test_a_duplicate_number_is_409_with_the_existing_id_ninth_digit_included(tenant, admin, phone):
    existing = ContactFactory(tenant=tenant, phone="5511987654321")
    response = admin.post(CONTACTS, {"phone": phone}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "contact_exists"
    assert body["fields"]["existing_id"] == existing.pk
    assert count(tenant) == 1


def test_the_same_number_in_another_tenant_is_no_duplicate(tenant, other_tenant, admin):
    ContactFactory(tenant=other_tenant, phone="5511987654321")
    assert admin.post(CONTACTS, {"phone": "5511987654321"}, format="json").status_code == 201


def test_unknown_tag_ids_are_400_and_nothing_is_written(tenant, other_tenant, admin):
    foreign = TagFactory(tenant=other_tenant)
    response = admin.post(CONTACTS, {"phone": "5511987654321", "tags": [foreign.pk]}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_tags"
    assert count(tenant) == 0


# --- custom fields ------------------------------------------------------------------------------


@pytest.fixture
def fields(tenant):
    FieldType = ContactFieldDefinition.FieldType
    return {
        "cpf": ContactFieldDefinitionFactory(tenant=tenant, key="cpf", field_type=FieldType.TEXT),
        "score": ContactFieldDefinitionFactory(tenant=tenant, key="score", field_type=FieldType.NUMBER),
        "birthday": ContactFieldDefinitionFactory(tenant=tenant, key="birthday", field_type=FieldType.DATE),
        "vip": ContactFieldDefinitionFactory(tenant=tenant, key="vip", field_type=FieldType.BOOLEAN),
        "plan": ContactFieldDefinitionFactory(
            tenant=tenant, key="plan", field_type=FieldType.CHOICE, choices=["basic", "pro"]
        ),
    }


def test_custom_fields_are_validated_and_typed(admin, fields):
    response = admin.post(
        CONTACTS,
        {"phone": "5511987654321",
         "custom_fields": {"cpf": "123.456.789-00", "score": "7,5", "birthday": "31/12/1990", "vip": "sim",
                           "plan": "pro"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["custom_fields"] == {
        "cpf": "123.456.789-00",
        "score": 7.5,
        "birthday": "1990-12-31",
        "vip": True,
        "plan": "pro",
    }


def test_wrong_types_and_unknown_keys_are_400_with_fields(tenant, admin, fields):
    response = admin.post(
        CONTACTS,
        {"phone": "5511987654321",
         "custom_fields": {"score": "muito", "birthday": "ontem", "vip": 3, "plan": "gold", "shoe": "42"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_custom_fields"
    assert set(body["fields"]["custom_fields"]) == {"score", "birthday", "vip", "plan", "shoe"}
    assert body["fields"]["custom_fields"]["shoe"] == ["Unknown field."]
    assert count(tenant) == 0


def test_a_required_custom_field_must_be_given(tenant, admin):
    ContactFieldDefinitionFactory(tenant=tenant, key="cpf", required=True)
    response = admin.post(CONTACTS, {"phone": "5511987654321"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"custom_fields": {"cpf": ["This field is required."]}}


# --- read, update, delete -----------------------------------------------------------------------


def test_update_changes_fields_phone_and_replaces_tags(tenant, agent, published):
    contact = ContactFactory(tenant=tenant, name="Ana", phone="5511987650001")
    old = TagFactory(tenant=tenant, name="old")
    contact.tags.add(old)
    response = agent.patch(
        detail(contact.pk), {"name": "Ana Paula", "phone": "+55 11 98765-0002", "tags": ["new"]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["phone"]) == ("Ana Paula", "5511987650002")
    assert [tag["name"] for tag in body["tags"]] == ["new"]
    assert published[-1][1] == "contact.updated"


def test_update_to_another_contacts_number_is_409(tenant, admin):
    ContactFactory(tenant=tenant, phone="5511987650001")
    contact = ContactFactory(tenant=tenant, phone="5511987650002")
    response = admin.patch(detail(contact.pk), {"phone": "551187650001"}, format="json")
    assert response.status_code == 409
    contact.refresh_from_db()
    assert contact.phone == "5511987650002"


def test_keeping_the_own_number_is_no_conflict(tenant, admin):
    contact = ContactFactory(tenant=tenant, phone="5511987650001")
    assert admin.put(detail(contact.pk), {"phone": "11987650001", "name": "X"}, format="json").status_code == 200


def test_retrieve(tenant, agent):
    contact = ContactFactory(tenant=tenant, name="Bia", custom_fields={"a": 1})
    body = agent.get(detail(contact.pk)).json()
    assert (body["id"], body["name"], body["custom_fields"]) == (contact.pk, "Bia", {"a": 1})


def test_delete_by_staff(tenant, supervisor):
    contact = ContactFactory(tenant=tenant)
    assert supervisor.delete(detail(contact.pk)).status_code == 204
    assert count(tenant) == 0


def test_a_contact_with_tickets_cannot_be_deleted(tenant, admin):
    contact = ContactFactory(tenant=tenant)
    TicketFactory(tenant=tenant, contact=contact, connection=ConnectionFactory(tenant=tenant))
    response = admin.delete(detail(contact.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "contact_in_use"
    assert count(tenant) == 1


# --- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "list_", "create", "update", "delete"),
    [
        ("anonymous", 401, 401, 401, 401),
        ("agent", 200, 201, 200, 403),
        ("supervisor", 200, 201, 200, 204),
        ("admin", 200, 201, 200, 204),
        ("outsider", 200, 201, 404, 404),
    ],
)
def test_permission_matrix(request, api_client, tenant, who, list_, create, update, delete):
    client = api_client if who == "anonymous" else request.getfixturevalue(who)
    contact = ContactFactory(tenant=tenant, name="Matrix")
    response = client.get(CONTACTS)
    assert response.status_code == list_
    if list_ == 200:
        assert [item["name"] for item in response.json()["results"]] == ([] if who == "outsider" else ["Matrix"])
    assert client.post(CONTACTS, {"phone": "5521987654321"}, format="json").status_code == create
    assert client.patch(detail(contact.pk), {"notes": "x"}, format="json").status_code == update
    assert client.delete(detail(contact.pk)).status_code == delete


# --- search, filters, ordering ------------------------------------------------------------------


@pytest.fixture
def people(tenant):
    return {
        "joao": ContactFactory(tenant=tenant, name="João Araújo", phone="5511987654321"),
        "maria": ContactFactory(tenant=tenant, name="", profile_name="Maria 🌻", phone="5521912345678"),
        "old": ContactFactory(tenant=tenant, name="Pedro", phone="553187654321"),  # without the ninth digit
        "ze": ContactFactory(tenant=tenant, name="ZÉ DA SILVA", phone="14155550123"),
    }


def _names(client, **params):
    response = client.get(CONTACTS, params)
    assert response.status_code == 200, response.content
    return sorted(item["id"] for item in response.json()["results"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("João", ["joao"]),
        ("joao", ["joao"]),
        ("ARAUJO", ["joao"]),
        ("maria", ["maria"]),
        ("zé da", ["ze"]),
        ("+55 (11) 98765-4321", ["joao"]),
        ("98765-4321", ["joao"]),
        ("(31) 98765-4321", ["old"]),  # typed with the ninth digit, stored without
        ("+1 415-555-0123", ["ze"]),
        ("nobody", []),
    ],
)
def test_search(agent, people, query, expected):
    assert _names(agent, search=query) == sorted(people[key].pk for key in expected)


def test_filters(tenant, agent, people):
    vip = TagFactory(tenant=tenant, name="VIP")
    people["joao"].tags.add(vip)
    people["maria"].opted_out = True
    people["maria"].save()
    Contact.all_tenants.filter(pk=people["old"].pk).update(created_at=timezone.now() - timedelta(days=10))

    assert _names(agent, tag=vip.pk) == [people["joao"].pk]
    assert _names(agent, tag="vip") == [people["joao"].pk]
    assert _names(agent, opted_out="true") == [people["maria"].pk]
    cutoff = (timezone.now() - timedelta(days=5)).isoformat()
    assert _names(agent, created_before=cutoff) == [people["old"].pk]
    assert _names(agent, created_after=cutoff) == sorted(p.pk for k, p in people.items() if k != "old")


def test_ordering_and_pagination(tenant, agent):
    for name in ["Carla", "Ana", "Bruno"]:
        ContactFactory(tenant=tenant, name=name)
    body = agent.get(CONTACTS, {"ordering": "-name", "page_size": 2}).json()
    assert body["count"] == 3
    assert [item["name"] for item in body["results"]] == ["Carla", "Bruno"]
    assert body["next"] is not None


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_rows(tenant, agent, django_assert_num_queries):
    tags = [TagFactory(tenant=tenant) for _ in range(3)]
    for _ in range(2):
        ContactFactory(tenant=tenant).tags.add(*tags)
    few = _queries(agent, CONTACTS)
    for _ in range(20):
        ContactFactory(tenant=tenant).tags.add(*tags)
    # authentication (the token's membership with its user and tenant), COUNT, the page, its tags
    with django_assert_num_queries(4):
        response = agent.get(CONTACTS, {"search": "cliente"})
    assert response.json()["count"] == 22
    assert few == 4


def test_display_name_falls_back_from_name_to_profile_name_to_number(tenant):
    from crm.api.serializers import ContactSerializer
    from crm.tests.factories import ContactFactory

    named = ContactFactory(tenant=tenant, name="Maria Silva", profile_name="Mari 🌸")
    profile_only = ContactFactory(tenant=tenant, name="", profile_name="Mari 🌸")
    number_only = ContactFactory(tenant=tenant, name="", profile_name="", phone="5511988887777")
    from tenants.context import tenant_context

    with tenant_context(tenant):  # the payload lists the contact's tags: a tenant-scoped query
        names = [ContactSerializer(c).data["display_name"] for c in (named, profile_only, number_only)]
    assert names == [
        "Maria Silva",
        "Mari 🌸",
        "+5511988887777",
    ]
