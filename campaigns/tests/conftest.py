# ruff: noqa: F401, F811 — fixtures re-exported for the campaign tests
"""Fixtures of the campaign tests: a Cloud connection aimed at the fake Graph API with an approved
template, contacts to reach, and a switch to turn Celery's eager mode off (tests that drive the
sending workers themselves)."""

import pytest

from campaigns.tests.factories import BODY, MessageTemplateFactory
from crm.models import ContactFieldDefinition
from crm.tests.factories import ContactFactory, ContactFieldDefinitionFactory, TagFactory
from whatsapp.tests.conftest import fake_evolution, fake_graph
from whatsapp.tests.inbound_fixtures import cloud_connection, deliver, evolution_connection, published


@pytest.fixture
def template(cloud_connection, fake_graph):
    cloud_connection.waba_id = fake_graph.waba_id
    cloud_connection.save(update_fields=["waba_id"])
    return MessageTemplateFactory(tenant=cloud_connection.tenant, connection=cloud_connection, components=BODY)


@pytest.fixture
def city_field(tenant):
    return ContactFieldDefinitionFactory(tenant=tenant, key="city", label="Cidade")


@pytest.fixture
def vip(tenant):
    return TagFactory(tenant=tenant, name="vip")


@pytest.fixture
def vip_contacts(tenant, vip, city_field):
    contacts = [ContactFactory(tenant=tenant, name=f"Cliente {n}", custom_fields={"city": "Santos"}) for n in range(5)]
    for contact in contacts:
        contact.tags.add(vip)
    return contacts


@pytest.fixture
def no_eager():
    """Tasks go to the broker (this test's Redis database) instead of running in-process."""
    from config.celery import app

    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True
