# ruff: noqa: F401, F811 — pytest fixtures imported from whatsapp.tests.inbound_fixtures
"""The webhook views: who gets in, what is stored, what is answered."""

import json

import pytest
from django.test import Client

from tickets.models import Message
from whatsapp.choices import InboundEventStatus
from whatsapp.models import InboundEvent
from whatsapp.providers.cloud import signature_for
from whatsapp.tests.inbound_fixtures import (
    cloud_connection,
    deliver,
    evolution_connection,
    post_webhook,
    webhook_url,
)

pytestmark = pytest.mark.django_db


def _events():
    return InboundEvent.all_tenants.all()


# --- Cloud GET verification -------------------------------------------------------------------


def test_cloud_verification_echoes_the_challenge_as_plain_text(cloud_connection):
    response = Client().get(
        webhook_url(cloud_connection),
        {"hub.mode": "subscribe", "hub.verify_token": "meu-token-de-verificacao", "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "meu-token-de-verificacao", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_cloud_verification_with_a_wrong_token_or_mode_is_403(cloud_connection, query):
    assert Client().get(webhook_url(cloud_connection), query).status_code == 403


def test_verification_of_an_unknown_secret_is_404(cloud_connection):
    query = {"hub.mode": "subscribe", "hub.verify_token": "meu-token-de-verificacao", "hub.challenge": "1"}
    assert Client().get(webhook_url(cloud_connection, secret="nope"), query).status_code == 404


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("signature", [None, "", "sha256=0000", "sha1=abc"])
def test_cloud_post_without_a_valid_signature_is_403_and_stores_nothing(cloud_connection, payload, signature):
    response = post_webhook(cloud_connection, payload("cloud/text"), signature=signature)
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_signature"
    assert _events().count() == 0


def test_cloud_signature_of_other_bytes_is_refused(cloud_connection, payload):
    body = payload("cloud/text")
    reformatted = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    response = post_webhook(cloud_connection, reformatted, signature=signature_for(body, cloud_connection.app_secret))
    assert response.status_code == 403
    assert _events().count() == 0


def test_cloud_signature_with_another_connections_secret_is_refused(cloud_connection, payload):
    body = payload("cloud/text")
    response = post_webhook(cloud_connection, body, signature=signature_for(body, "another-app-secret"))
    assert response.status_code == 403
    assert _events().count() == 0


def test_unknown_secret_is_404_and_stores_nothing(cloud_connection, evolution_connection, payload):
    assert post_webhook(cloud_connection, payload("cloud/text"), secret="unknown").status_code == 404
    assert post_webhook(evolution_connection, payload("evolution/text_conversation"), secret="x").status_code == 404
    assert _events().count() == 0


def test_a_cloud_secret_does_not_open_the_evolution_route(cloud_connection, payload):
    response = Client().post(
        f"/webhooks/whatsapp/evolution/{cloud_connection.webhook_secret}/",
        data=payload("evolution/text_conversation"),
        content_type="application/json",
    )
    assert response.status_code == 404
    assert _events().count() == 0


def test_evolution_post_with_the_path_secret_is_stored(
    evolution_connection, payload, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook(evolution_connection, payload("evolution/text_conversation"))
    assert response.status_code == 200
    event = _events().get()
    assert (event.connection_id, event.provider, event.status) == (
        evolution_connection.pk,
        "evolution",
        InboundEventStatus.PENDING,
    )
    assert bytes(event.body) == payload("evolution/text_conversation")
    assert len(callbacks) == 1  # processing is enqueued on commit, not before


# --- body checks ------------------------------------------------------------------------------


def test_malformed_json_is_400_with_code_and_detail(cloud_connection):
    body = b'{"object": "whatsapp_business_account", "entry": ['
    response = post_webhook(cloud_connection, body)
    assert response.status_code == 400
    assert response.json() == {"code": "malformed_json", "detail": "The body is not valid JSON."}
    assert _events().count() == 0


def test_a_body_over_5_mb_is_413(evolution_connection):
    body = b'{"event": "messages.upsert", "data": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = post_webhook(evolution_connection, body)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert _events().count() == 0


def test_get_is_not_allowed_on_evolution(evolution_connection):
    assert Client().get(webhook_url(evolution_connection)).status_code == 405


# --- storing ----------------------------------------------------------------------------------


def test_a_valid_post_is_stored_raw_and_processed(cloud_connection, payload, deliver):
    body = payload("cloud/text")
    deliver(cloud_connection, body)
    event = _events().get()
    assert bytes(event.body) == body
    assert event.content_type == "application/json"
    assert event.status == InboundEventStatus.PROCESSED
    assert event.attempts == 1
    assert Message.all_tenants.count() == 1


def test_the_same_body_twice_is_one_event_and_one_message(cloud_connection, payload, deliver):
    deliver(cloud_connection, payload("cloud/text"))
    deliver(cloud_connection, payload("cloud/text"))
    assert _events().count() == 1
    assert Message.all_tenants.count() == 1


def test_a_duplicate_delivery_enqueues_nothing(cloud_connection, payload, django_capture_on_commit_callbacks):
    post_webhook(cloud_connection, payload("cloud/text"))
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook(cloud_connection, payload("cloud/text"))
    assert response.status_code == 200
    assert callbacks == []


def test_a_payload_for_another_phone_number_id_is_answered_200_and_ignored(cloud_connection, payload, deliver):
    body = payload("cloud/text").replace(b"106540352242922", b"999999999999999")
    deliver(cloud_connection, body)
    event = _events().get()
    assert event.status == InboundEventStatus.IGNORED
    assert Message.all_tenants.count() == 0


def test_a_payload_for_another_evolution_instance_is_ignored(evolution_connection, payload, deliver):
    body = payload("evolution/text_conversation").replace(b'"loja-centro"', b'"outra-loja"')
    deliver(evolution_connection, body)
    assert _events().get().status == InboundEventStatus.IGNORED
    assert Message.all_tenants.count() == 0
