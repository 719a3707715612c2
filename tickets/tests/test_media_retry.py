# ruff: noqa: F401, F811 — pytest fixtures imported from the whatsapp tests
"""Media downloads retry transient provider errors with backoff, and a failed one can be retried."""

import pytest
from celery.exceptions import Retry
from django.core.files.storage import default_storage
from django.urls import reverse

from accounts.models import Role
from tenants.context import tenant_context
from tickets.models import Message, Ticket
from tickets.tests.factories import QueueFactory, TicketFactory
from whatsapp.tasks import MEDIA_DOWNLOAD_MAX_RETRIES, download_media_task, media_download_countdown
from whatsapp.tests.conftest import fake_evolution, payload
from whatsapp.tests.fakes import evolution_error_body
from whatsapp.tests.inbound_fixtures import EVOLUTION_INSTANCE, deliver, evolution_connection, post_webhook

pytestmark = pytest.mark.django_db

DOCUMENT_KEY = "3AAF5B3D4C2A1F0E9D8C"  # the message of evolution/document.json
PDF = b"%PDF-1.4 orcamento"
BASE64_PATH = f"/chat/getBase64FromMediaMessage/{EVOLUTION_INSTANCE}"


@pytest.fixture
def pending(evolution_connection, payload, deliver, monkeypatch):
    """An inbound document whose download has not run yet."""
    monkeypatch.setattr("whatsapp.tasks.download_media_task.delay", lambda **kwargs: None)
    deliver(evolution_connection, payload("evolution/document"))
    monkeypatch.undo()
    message = Message.all_tenants.get()
    assert message.media_status == Message.MediaStatus.PENDING
    return message


def _attempt(message, retries=0):
    """What a worker does for attempt `retries + 1` (tasks run eagerly in tests: a Retry propagates)."""
    return download_media_task.apply(kwargs={"message_id": message.pk, "tenant_id": message.tenant_id}, retries=retries)


def _fresh(message) -> Message:
    return Message.all_tenants.get(pk=message.pk)


def _fail(fake_evolution, status, times):
    body = evolution_error_body(status, "Service Unavailable" if status >= 500 else "Too Many Requests", ["busy"])
    fake_evolution.respond("POST", BASE64_PATH, status=status, json=body, times=times)


def test_a_transient_error_retries_with_backoff_until_the_download_succeeds(pending, fake_evolution):
    fake_evolution.add_media(DOCUMENT_KEY, PDF, "application/pdf", "orcamento.pdf")
    _fail(fake_evolution, 503, times=2)

    with pytest.raises(Retry) as first:
        _attempt(pending, retries=0)
    assert 8 <= first.value.when <= 12
    assert _fresh(pending).media_status == Message.MediaStatus.PENDING
    with pytest.raises(Retry) as second:
        _attempt(pending, retries=1)
    assert 24 <= second.value.when <= 36
    assert _fresh(pending).media_status == Message.MediaStatus.PENDING
    _attempt(pending, retries=2)

    message = _fresh(pending)
    assert message.media_status == Message.MediaStatus.READY
    assert message.media_size == len(PDF)
    assert "media_error" not in message.payload
    assert len(fake_evolution.requests_to("POST", BASE64_PATH)) == 3
    default_storage.delete(message.media_file.name)


def test_after_the_last_attempt_the_media_fails(pending, fake_evolution):
    fake_evolution.add_media(DOCUMENT_KEY, PDF, "application/pdf", "orcamento.pdf")
    _fail(fake_evolution, 429, times=MEDIA_DOWNLOAD_MAX_RETRIES + 1)

    for retries in range(MEDIA_DOWNLOAD_MAX_RETRIES):
        with pytest.raises(Retry):
            _attempt(pending, retries=retries)
        assert _fresh(pending).media_status == Message.MediaStatus.PENDING
    _attempt(pending, retries=MEDIA_DOWNLOAD_MAX_RETRIES)

    message = _fresh(pending)
    assert message.media_status == Message.MediaStatus.FAILED
    assert message.payload["media_error"] == "rate_limited"
    assert len(fake_evolution.requests_to("POST", BASE64_PATH)) == MEDIA_DOWNLOAD_MAX_RETRIES + 1


def test_a_permanent_error_fails_at_once(pending, fake_evolution):
    # The fake knows no media for this key: 400 "Message not found" (gone from the phone / expired).
    _attempt(pending)
    message = _fresh(pending)
    assert message.media_status == Message.MediaStatus.FAILED
    assert message.payload["media_error"] == "bad_request"
    assert len(fake_evolution.requests_to("POST", BASE64_PATH)) == 1


def test_a_duplicate_task_after_success_downloads_nothing_more(pending, fake_evolution):
    fake_evolution.add_media(DOCUMENT_KEY, PDF, "application/pdf", "orcamento.pdf")
    _attempt(pending)
    _attempt(pending, retries=1)
    assert len(fake_evolution.requests_to("POST", BASE64_PATH)) == 1
    default_storage.delete(_fresh(pending).media_file.name)


@pytest.mark.parametrize("retries, low, high", [(0, 8, 12), (1, 24, 36), (2, 72, 108), (3, 216, 300), (4, 300, 300)])
def test_the_backoff_grows_to_about_five_minutes_with_jitter(retries, low, high):
    waits = {media_download_countdown(retries) for _ in range(50)}
    assert all(low <= wait <= high for wait in waits)


def test_eagerly_the_first_transient_error_asks_celery_for_a_retry(
    evolution_connection, fake_evolution, payload, django_capture_on_commit_callbacks
):
    """Through the webhook: the retry is scheduled (raised in eager mode) and the message waits pending."""
    _fail(fake_evolution, 502, times=1)
    with pytest.raises(Retry):
        with django_capture_on_commit_callbacks(execute=True):
            assert post_webhook(evolution_connection, payload("evolution/document")).status_code == 200
    assert Message.all_tenants.get().media_status == Message.MediaStatus.PENDING


# --- trying a failed download again --------------------------------------------------------------


@pytest.fixture
def failed(pending, fake_evolution):
    _attempt(pending)  # no such media on the fake: fails permanently
    message = _fresh(pending)
    assert message.media_status == Message.MediaStatus.FAILED
    return message


def _url(message, ticket_id=None):
    return reverse(
        "ticket-message-retry-media", kwargs={"pk": ticket_id or message.ticket_id, "message_id": message.pk}
    )


@pytest.fixture
def as_admin(client_for, admin_user, tenant):
    return client_for(admin_user, tenant)


def test_retrying_a_failed_download_fetches_it_again(
    failed, fake_evolution, as_admin, django_capture_on_commit_callbacks
):
    fake_evolution.add_media(DOCUMENT_KEY, PDF, "application/pdf", "orcamento.pdf")
    with django_capture_on_commit_callbacks(execute=True):
        response = as_admin.post(_url(failed))
    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["media_status"]) == (failed.pk, "pending")
    message = _fresh(failed)
    assert message.media_status == Message.MediaStatus.READY
    assert "media_error" not in message.payload
    assert len(fake_evolution.requests_to("POST", BASE64_PATH)) == 2
    default_storage.delete(message.media_file.name)


@pytest.mark.parametrize("media_status", [Message.MediaStatus.PENDING, Message.MediaStatus.READY])
def test_only_a_failed_download_can_be_retried(failed, as_admin, media_status, fake_evolution):
    Message.all_tenants.filter(pk=failed.pk).update(media_status=media_status)
    response = as_admin.post(_url(failed))
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "media_not_failed"
    assert _fresh(failed).media_status == media_status
    assert len(fake_evolution.requests_to("POST", BASE64_PATH)) == 1  # only the original attempt


def test_a_message_without_media_cannot_be_retried(evolution_connection, payload, deliver, as_admin):
    deliver(evolution_connection, payload("evolution/text_conversation"))
    message = Message.all_tenants.get()
    response = as_admin.post(_url(message))
    assert (response.status_code, response.json()["code"]) == (409, "media_not_failed")


def test_another_tenants_message_or_one_of_another_ticket_is_not_found(
    failed, other_tenant, make_member, client_for, as_admin, evolution_connection, payload, deliver
):
    outsider = make_member(other_tenant, Role.ADMIN)
    response = client_for(outsider, other_tenant).post(_url(failed))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")

    with tenant_context(failed.tenant):
        another_ticket = TicketFactory(tenant=failed.tenant, connection=evolution_connection, protocol=9001)
    response = as_admin.post(_url(failed, ticket_id=another_ticket.pk))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert _fresh(failed).media_status == Message.MediaStatus.FAILED


def test_an_agent_who_cannot_see_the_ticket_gets_404(failed, make_member, tenant, client_for):
    with tenant_context(tenant):
        Ticket.objects.filter(pk=failed.ticket_id).update(queue=QueueFactory(tenant=tenant))
    agent = make_member(tenant, Role.AGENT)
    response = client_for(agent, tenant).post(_url(failed))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert _fresh(failed).media_status == Message.MediaStatus.FAILED
