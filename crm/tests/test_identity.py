"""crm.identity: one WhatsApp sender is one contact, whatever form of the number arrives."""

import pytest
from django.db import transaction

from crm.identity import contact_resolve_whatsapp
from crm.models import Contact
from crm.tests.factories import ContactFactory
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


def _resolve(tenant, **kwargs):
    with tenant_context(tenant), transaction.atomic():
        return contact_resolve_whatsapp(tenant=tenant, **kwargs)


def test_a_new_sender_becomes_a_contact(tenant):
    resolved = _resolve(tenant, wa_id="5511987654321", phone="5511987654321", profile_name="João")
    assert resolved.created
    contact = Contact.all_tenants.get()
    assert (contact.wa_id, contact.phone, contact.profile_name, contact.name) == (
        "5511987654321", "5511987654321", "João", "",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stored", "arriving"),
    [("5511987654321", "551187654321"), ("551187654321", "5511987654321")],
)
def test_the_ninth_digit_forms_are_one_contact(tenant, stored, arriving):
    existing = ContactFactory(tenant=tenant, wa_id=stored, phone=stored, profile_name="João")
    resolved = _resolve(tenant, wa_id=arriving, phone=arriving, profile_name="João C.")
    assert resolved.contact.pk == existing.pk
    assert not resolved.created
    assert Contact.all_tenants.count() == 1
    existing.refresh_from_db()
    assert (existing.wa_id, existing.profile_name) == (stored, "João C.")


def test_a_contact_known_only_by_phone_gets_the_wa_id(tenant):
    existing = ContactFactory(tenant=tenant, wa_id="", phone="5511987654321", name="Cliente VIP")
    resolved = _resolve(tenant, wa_id="551187654321", phone="551187654321", profile_name="João")
    assert resolved.contact.pk == existing.pk
    assert resolved.changed
    existing.refresh_from_db()
    assert (existing.wa_id, existing.phone, existing.name) == ("551187654321", "5511987654321", "Cliente VIP")


def test_an_empty_profile_name_never_renames(tenant):
    existing = ContactFactory(tenant=tenant, wa_id="5511987654321", phone="5511987654321", profile_name="João")
    resolved = _resolve(tenant, wa_id="5511987654321", phone="5511987654321", profile_name="")
    assert not resolved.changed
    existing.refresh_from_db()
    assert existing.profile_name == "João"


def test_a_sender_without_phone_is_keyed_by_its_id(tenant):
    resolved = _resolve(tenant, wa_id="BR.1502576394655843", phone=None, profile_name="Bia")
    again = _resolve(tenant, wa_id="BR.1502576394655843", phone=None, profile_name="Bia")
    assert resolved.contact.pk == again.contact.pk
    assert resolved.contact.phone == ""


def test_contacts_of_another_tenant_are_never_matched(tenant, other_tenant):
    ContactFactory(tenant=other_tenant, wa_id="5511987654321", phone="5511987654321")
    resolved = _resolve(tenant, wa_id="5511987654321", phone="5511987654321", profile_name="João")
    assert resolved.created
    assert resolved.contact.tenant_id == tenant.pk
