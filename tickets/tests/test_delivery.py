"""Outbound delivery over real HTTP fakes of the Graph API and Evolution (loopback servers)."""

from datetime import timedelta
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import Role
from tenants.context import tenant_context
from tickets import services
from tickets.exceptions import MediaTooLarge, MediaTypeNotAllowed
from tickets.models import Message, Ticket
from tickets.tasks import DELIVERY_MAX_RETRIES, deliver_message_task
from tickets.tests.factories import TicketFactory
from whatsapp.choices import DeliveryStatus
from whatsapp.tests.factories import ConnectionFactory
from whatsapp.tests.fakes import FakeEvolutionAPI, FakeGraphAPI, graph_error_body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_tenant(tenant, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    settings.MEDIA_ROOT = str(tmp_path)
    with tenant_context(tenant):
        yield tenant


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
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT)


@pytest.fixture
def cloud_ticket(fake_graph, agent):
    connection = ConnectionFactory(
        api_base_url=fake_graph.url,
        phone_number_id=fake_graph.phone_number_id,
        graph_api_version=fake_graph.version,
        access_token=fake_graph.access_token,
    )
    return TicketFactory(
        connection=connection,
        status=Ticket.Status.OPEN,
        assignee=agent,
        last_inbound_at=timezone.now() - timedelta(hours=1),
        contact__phone="5511987654321",
    )


def _send(ticket, agent, capture, **kwargs):
    with capture(execute=True):
        message = services.message_send(ticket=ticket, author=agent, **kwargs)
    message.refresh_from_db()
    return message


def test_a_text_reaches_the_graph_api_and_becomes_sent(
    cloud_ticket, agent, fake_graph, django_capture_on_commit_callbacks
):
    message = _send(cloud_ticket, agent, django_capture_on_commit_callbacks, text="Seu pedido saiu para entrega")
    (request,) = fake_graph.requests_to("POST", fake_graph.messages_path)
    body = request.json()
    assert body["to"] == "5511987654321"
    assert body["text"]["body"] == "Seu pedido saiu para entrega"
    assert message.status == DeliveryStatus.SENT
    assert message.provider_message_id.startswith("wamid.")
    assert message.send_attempts == 1


def test_a_status_webhook_that_came_first_is_not_moved_back(cloud_ticket, agent, fake_graph, monkeypatch):
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: None)
    message = services.message_send(ticket=cloud_ticket, author=agent, text="Oi")
    Message.objects.filter(pk=message.pk).update(status=DeliveryStatus.DELIVERED)
    services.message_mark_sent(message_id=message.pk, provider_message_id="wamid.X")
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == (DeliveryStatus.DELIVERED, "wamid.X")


def _run(message, retries=0):
    """What a worker does for attempt `retries + 1` (tests run tasks eagerly: a Retry propagates)."""
    return deliver_message_task.apply(
        kwargs={"message_id": message.pk, "tenant_id": message.tenant_id}, retries=retries
    )


@pytest.fixture
def queued(cloud_ticket, agent, monkeypatch):
    """A pending message whose delivery was not run yet."""
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: None)
    return services.message_send(ticket=cloud_ticket, author=agent, text="Oi")


def test_a_transient_error_schedules_a_retry_with_backoff(queued, fake_graph):
    fake_graph.respond("POST", fake_graph.messages_path, status=503, json=graph_error_body(2, "Service unavailable"))
    with pytest.raises(Retry) as caught:
        _run(queued)
    assert caught.value.when == 1  # 2**0 seconds
    queued.refresh_from_db()
    assert (queued.status, queued.send_attempts, queued.error_code) == (DeliveryStatus.PENDING, 1, "")


def test_a_later_retry_waits_longer(queued, fake_graph):
    fake_graph.respond("POST", fake_graph.messages_path, status=400, json=graph_error_body(130429, "Rate limit"))
    with mock.patch.object(deliver_message_task, "retry", side_effect=Retry("later")) as retry:
        with pytest.raises(Retry):
            _run(queued, retries=3)
    assert retry.call_args.kwargs["countdown"] == 8


def test_a_retry_that_succeeds_sends_once(queued, fake_graph):
    fake_graph.respond("POST", fake_graph.messages_path, status=500, json=graph_error_body(1, "Unknown"))
    with pytest.raises(Retry):
        _run(queued)
    _run(queued, retries=1)
    _run(queued, retries=2)  # a duplicate delivery of the task sends nothing more
    queued.refresh_from_db()
    assert len(fake_graph.requests_to("POST", fake_graph.messages_path)) == 2
    assert (queued.status, queued.send_attempts) == (DeliveryStatus.SENT, 2)


def test_after_the_last_attempt_the_message_fails(queued, fake_graph):
    fake_graph.respond(
        "POST", fake_graph.messages_path, status=400, json=graph_error_body(130429, "Rate limit hit"), times=10
    )
    for retries in range(DELIVERY_MAX_RETRIES):
        with pytest.raises(Retry):
            _run(queued, retries=retries)
    _run(queued, retries=DELIVERY_MAX_RETRIES)
    queued.refresh_from_db()
    assert len(fake_graph.requests_to("POST", fake_graph.messages_path)) == DELIVERY_MAX_RETRIES + 1
    assert (queued.status, queued.error_code, queued.error_title) == (DeliveryStatus.FAILED, "130429", "Rate limit hit")
    assert queued.send_attempts == DELIVERY_MAX_RETRIES + 1
    assert queued.error_detail.startswith("WhatsApp kept refusing the message; gave up after 5 attempts.")


def test_a_permanent_error_fails_at_once_with_an_explanation(
    cloud_ticket, agent, fake_graph, django_capture_on_commit_callbacks
):
    fake_graph.fail(131047, "Re-engagement message", "More than 24 hours have passed")
    message = _send(cloud_ticket, agent, django_capture_on_commit_callbacks, text="Oi")
    assert len(fake_graph.requests_to("POST", fake_graph.messages_path)) == 1
    assert message.status == DeliveryStatus.FAILED
    assert message.error_code == "131047"
    assert message.error_title == "Re-engagement message"
    assert "24 hours" in message.error_detail and "template" in message.error_detail


def test_a_template_is_sent_outside_the_window(cloud_ticket, agent, fake_graph, django_capture_on_commit_callbacks):
    cloud_ticket.last_inbound_at = timezone.now() - timedelta(days=3)
    cloud_ticket.save()
    template = {"name": "retomar_contato", "language": "pt_BR", "components": []}
    message = _send(cloud_ticket, agent, django_capture_on_commit_callbacks, template=template)
    (request,) = fake_graph.requests_to("POST", fake_graph.messages_path)
    assert request.json()["template"] == {"name": "retomar_contato", "language": {"code": "pt_BR"}}
    assert message.status == DeliveryStatus.SENT


def test_an_uploaded_image_is_stored_per_tenant_and_uploaded(
    cloud_ticket, agent, fake_graph, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile("foto do pedido.png", b"\x89PNG fake bytes", content_type="image/png")
    message = _send(cloud_ticket, agent, django_capture_on_commit_callbacks, text="Veja", media=upload)
    assert message.media_file.name.startswith(f"tenants/{cloud_ticket.tenant_id}/media/")
    assert message.type == "image"
    assert len(fake_graph.requests_to("POST", f"/{fake_graph.version}/{fake_graph.phone_number_id}/media")) == 1
    (request,) = fake_graph.requests_to("POST", fake_graph.messages_path)
    assert request.json()["image"]["caption"] == "Veja"
    assert message.status == DeliveryStatus.SENT


def test_media_type_and_size_are_checked(cloud_ticket, agent):
    with pytest.raises(MediaTypeNotAllowed) as caught:
        services.message_send(
            ticket=cloud_ticket,
            author=agent,
            media=SimpleUploadedFile("x.exe", b"MZ", content_type="application/x-msdownload"),
        )
    assert caught.value.code == "media_type_not_allowed"
    big = SimpleUploadedFile("big.png", b"0" * (5 * 1024 * 1024 + 1), content_type="image/png")
    with pytest.raises(MediaTooLarge):
        services.message_send(ticket=cloud_ticket, author=agent, media=big)
    assert Message.objects.count() == 0


def test_evolution_sends_without_a_window(fake_evolution, agent, django_capture_on_commit_callbacks):
    connection = ConnectionFactory(
        evolution=True, api_base_url=fake_evolution.url, instance_name="loja-centro", api_key=fake_evolution.api_key
    )
    ticket = TicketFactory(
        connection=connection,
        status=Ticket.Status.OPEN,
        assignee=agent,
        last_inbound_at=None,
        contact__phone="5511912345678",
    )
    message = _send(ticket, agent, django_capture_on_commit_callbacks, text="Olá pelo Evolution")
    (request,) = fake_evolution.requests_to("POST", "/message/sendText/loja-centro")
    assert request.json() == {"number": "5511912345678", "text": "Olá pelo Evolution"}
    assert message.status == DeliveryStatus.SENT
    assert message.provider_message_id.startswith("3EB0")


def test_evolution_permanent_error_fails(fake_evolution, agent, django_capture_on_commit_callbacks):
    fake_evolution.not_on_whatsapp.add("5511900000000")
    connection = ConnectionFactory(
        evolution=True, api_base_url=fake_evolution.url, instance_name="loja-centro", api_key=fake_evolution.api_key
    )
    ticket = TicketFactory(
        connection=connection, status=Ticket.Status.OPEN, assignee=agent, contact__phone="5511900000000"
    )
    message = _send(ticket, agent, django_capture_on_commit_callbacks, text="Oi")
    assert message.status == DeliveryStatus.FAILED
    assert message.error_code == "not_on_whatsapp"


def test_mark_read_calls_the_provider_for_the_last_inbound_message(
    cloud_ticket, agent, fake_graph, django_capture_on_commit_callbacks
):
    from tickets.tests.factories import MessageFactory

    MessageFactory(ticket=cloud_ticket, provider_message_id="wamid.OLD", sent_at=timezone.now() - timedelta(minutes=9))
    MessageFactory(ticket=cloud_ticket, provider_message_id="wamid.LAST")
    cloud_ticket.unread_count = 2
    cloud_ticket.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_mark_read(ticket=cloud_ticket, actor=agent)
    (request,) = fake_graph.requests_to("POST", fake_graph.messages_path)
    assert request.json() == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.LAST"}
