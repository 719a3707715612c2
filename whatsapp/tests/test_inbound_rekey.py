# ruff: noqa: F401, F811 — pytest fixtures imported from whatsapp.tests.inbound_fixtures
"""A customer who changes number keeps their contact (and its history)."""

import pytest

from crm.models import Contact
from crm.tests.factories import ContactFactory
from tickets.models import Message
from whatsapp.choices import MessageType
from whatsapp.tests.inbound_fixtures import cloud_connection, deliver

pytestmark = pytest.mark.django_db


def test_user_changed_number_moves_the_contact_to_the_new_number(tenant, cloud_connection, deliver, payload):
    deliver(cloud_connection, payload("cloud/system"))
    contact = Contact.all_tenants.get(tenant=tenant)
    assert (contact.wa_id, contact.phone) == ("5511912345678", "5511912345678")
    system = Message.all_tenants.get(tenant=tenant)
    assert (system.type, system.payload["new_wa_id"]) == (MessageType.SYSTEM, "5511912345678")


def test_a_changed_number_that_another_contact_has_is_left_for_a_human(tenant, cloud_connection, deliver, payload):
    other = ContactFactory(tenant=tenant, name="Já existe", wa_id="5511912345678", phone="5511912345678")
    deliver(cloud_connection, payload("cloud/system"))
    mover = Contact.all_tenants.exclude(pk=other.pk).get(tenant=tenant)
    assert (mover.wa_id, mover.phone) == ("5511987654321", "5511987654321")
    other.refresh_from_db()
    assert other.wa_id == "5511912345678"
