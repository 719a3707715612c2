"""Fixtures of the whatsapp tests: provider fakes on loopback, connections pointed at them, payloads."""

from pathlib import Path

import pytest

from whatsapp.choices import Provider
from whatsapp.models import Connection
from whatsapp.tests.factories import ConnectionFactory
from whatsapp.tests.fakes import FakeEvolutionAPI, FakeGraphAPI

FIXTURES = Path(__file__).parent / "fixtures"

CLOUD_APP_SECRET = "3f1b6a0e9c2d47a8b5e4d3c2b1a09f8e"
WEBHOOK_SECRET = "Vt1pQ0cG7m3xS9aJk2LwR5eYb8nH4dZ6uF0iO1yT3rE"


@pytest.fixture
def payload():
    """payload("cloud/text") → the fixture's exact bytes (what the provider POSTs)."""

    def _load(name: str) -> bytes:
        return (FIXTURES / f"{name}.json").read_bytes()

    return _load


@pytest.fixture
def fake_graph():
    with FakeGraphAPI() as server:
        yield server


@pytest.fixture
def fake_evolution():
    with FakeEvolutionAPI() as server:
        server.add_instance("loja-centro")
        yield server


@pytest.fixture
def cloud_conn(fake_graph):
    """An unsaved Cloud connection (adapters never touch the database) aimed at the fake Graph API."""
    return Connection(
        name="Loja Centro",
        provider=Provider.CLOUD,
        api_base_url=fake_graph.url,
        phone_number_id=fake_graph.phone_number_id,
        graph_api_version=fake_graph.version,
        access_token=fake_graph.access_token,
        app_secret=CLOUD_APP_SECRET,
        verify_token="meu-token-de-verificacao",
        webhook_secret=WEBHOOK_SECRET,
    )


@pytest.fixture
def evolution_conn(fake_evolution):
    return Connection(
        name="Loja Centro (Evolution)",
        provider=Provider.EVOLUTION,
        api_base_url=fake_evolution.url,
        instance_name="loja-centro",
        api_key=fake_evolution.api_key,
        webhook_secret=WEBHOOK_SECRET,
    )


@pytest.fixture
def saved_cloud_connection(tenant, fake_graph):
    return ConnectionFactory(
        tenant=tenant,
        api_base_url=fake_graph.url,
        phone_number_id=fake_graph.phone_number_id,
        access_token=fake_graph.access_token,
        app_secret=CLOUD_APP_SECRET,
    )
