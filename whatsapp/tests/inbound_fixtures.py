"""Fixtures of the inbound pipeline tests: saved connections aimed at the provider fakes, and
`deliver()`, which POSTs a body to the connection's webhook URL the way the provider does and runs
what the request scheduled on commit (storing → processing → media download, Celery eager)."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from whatsapp.choices import Provider
from whatsapp.providers.cloud import signature_for
from whatsapp.tests.conftest import CLOUD_APP_SECRET
from whatsapp.tests.factories import ConnectionFactory

CLOUD_PHONE_NUMBER_ID = "106540352242922"
EVOLUTION_INSTANCE = "loja-centro"


@pytest.fixture
def cloud_connection(tenant, fake_graph):
    return ConnectionFactory(
        tenant=tenant,
        name="Loja Centro",
        api_base_url=fake_graph.url,
        phone_number_id=CLOUD_PHONE_NUMBER_ID,
        graph_api_version=fake_graph.version,
        access_token=fake_graph.access_token,
        app_secret=CLOUD_APP_SECRET,
        verify_token="meu-token-de-verificacao",
    )


@pytest.fixture
def evolution_connection(tenant, fake_evolution):
    return ConnectionFactory(
        tenant=tenant,
        evolution=True,
        name="Loja Centro (Evolution)",
        api_base_url=fake_evolution.url,
        instance_name=EVOLUTION_INSTANCE,
        api_key=fake_evolution.api_key,
    )


def webhook_url(connection, secret=None) -> str:
    name = "whatsapp-webhook-cloud" if connection.provider == Provider.CLOUD else "whatsapp-webhook-evolution"
    return reverse(name, kwargs={"secret": secret or connection.webhook_secret})


def post_webhook(connection, body: bytes, *, signature: str | None = "auto", secret=None, client=None, **headers):
    """One POST as the provider sends it. Cloud bodies are signed with the app secret unless
    `signature` says otherwise (None = no header)."""
    if connection.provider == Provider.CLOUD and signature == "auto":
        signature = signature_for(body, connection.app_secret)
    if connection.provider == Provider.CLOUD and signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return (client or Client()).post(
        webhook_url(connection, secret), data=body, content_type="application/json", **headers
    )


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """deliver(connection, body) → the response, after running the work it enqueued on commit."""

    def _deliver(connection, body, **kwargs):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook(connection, body, **kwargs)
        assert response.status_code == 200, response.content
        return response

    return _deliver


@pytest.fixture
def published(monkeypatch):
    """Events handed to tickets.events.publish: [(groups, type, data)] (sent on commit, or never)."""
    from tickets import events

    sent = []
    original = events.publish

    def record(groups, event_type, data):
        sent.append((sorted(set(groups)), event_type, data))
        original(groups, event_type, data)

    monkeypatch.setattr(events, "publish", record)
    return sent
