"""Scheduled messages go out once; idle tickets close; beat jobs fan out per tenant."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.context import tenant_context
from tickets import services, tasks
from tickets.models import Message, ScheduledMessage, Ticket
from tickets.tests.factories import ScheduledMessageFactory, TicketFactory
from whatsapp.tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr("tickets.tasks.deliver_message_task.delay", lambda **kw: calls.append(kw))
    return calls


def _due(**kwargs):
    scheduled = ScheduledMessageFactory(**kwargs)
    ScheduledMessage.all_tenants.filter(pk=scheduled.pk).update(send_at=timezone.now() - timedelta(minutes=1))
    return scheduled


def test_due_messages_are_sent_exactly_once(tenant, enqueued, django_capture_on_commit_callbacks):
    ticket = TicketFactory(status="open", last_inbound_at=timezone.now() - timedelta(hours=1))
    due = _due(ticket=ticket, text="Seu boleto vence amanhã")
    later = ScheduledMessageFactory(ticket=ticket)
    with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
        assert services.scheduled_messages_send_due() == 1
        assert services.scheduled_messages_send_due() == 0
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == ScheduledMessage.Status.SENT
    assert due.message.text == "Seu boleto vence amanhã"
    assert later.status == ScheduledMessage.Status.SCHEDULED
    assert Message.all_tenants.count() == 1
    assert enqueued == [{"message_id": due.message_id, "tenant_id": tenant.pk}]


def test_a_closed_window_fails_the_scheduled_message_with_the_reason(tenant, enqueued):
    ticket = TicketFactory(status="open", last_inbound_at=timezone.now() - timedelta(days=2))
    due = _due(ticket=ticket)
    with tenant_context(tenant):
        services.scheduled_messages_send_due()
    due.refresh_from_db()
    assert due.status == ScheduledMessage.Status.FAILED
    assert "24 hours" in due.error
    assert Message.all_tenants.count() == 0


def test_the_beat_job_fans_out_one_task_per_tenant_with_due_messages(tenant, other_tenant, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.scheduled_messages_send_due_task, "delay", lambda **kw: sent.append(kw))
    _due(ticket=TicketFactory())
    _due(ticket=TicketFactory())
    ScheduledMessageFactory(tenant=other_tenant, ticket=TicketFactory(tenant=other_tenant))  # not due
    assert tasks.send_due_scheduled_messages() == 1
    assert sent == [{"tenant_id": tenant.pk}]


def test_the_tenant_task_sends_through_the_service(tenant, enqueued):
    due = _due(ticket=TicketFactory(status="open", connection=ConnectionFactory(evolution=True)))
    tasks.scheduled_messages_send_due_task.apply(kwargs={"tenant_id": tenant.pk})
    due.refresh_from_db()
    assert due.status == ScheduledMessage.Status.SENT


def test_idle_tickets_close_with_the_farewell(tenant, enqueued, monkeypatch):
    tenant.auto_close_after_hours = 12
    tenant.save()
    connection = ConnectionFactory(farewell_message="Encerramos por inatividade.")
    now = timezone.now()
    idle = TicketFactory(
        status="open",
        connection=connection,
        last_message_at=now - timedelta(hours=13),
        last_inbound_at=now - timedelta(hours=13),
    )
    busy = TicketFactory(status="open", connection=connection, last_message_at=now - timedelta(hours=1))
    fanned = []
    monkeypatch.setattr(tasks.tickets_close_idle_task, "delay", lambda **kw: fanned.append(kw))
    assert tasks.close_idle_tickets() == 1
    assert fanned == [{"tenant_id": tenant.pk}]
    tasks.tickets_close_idle_task.apply(kwargs={"tenant_id": tenant.pk})
    idle.refresh_from_db()
    busy.refresh_from_db()
    assert (idle.status, busy.status) == (Ticket.Status.CLOSED, Ticket.Status.OPEN)
    assert list(Message.all_tenants.filter(ticket=idle).values_list("text", flat=True)) == [
        "Encerramos por inatividade."
    ]


def test_auto_close_off_by_default(tenant, monkeypatch):
    fanned = []
    monkeypatch.setattr(tasks.tickets_close_idle_task, "delay", lambda **kw: fanned.append(kw))
    TicketFactory(status="open", last_message_at=timezone.now() - timedelta(days=30))
    assert tasks.close_idle_tickets() == 0
    with tenant_context(tenant):
        assert services.tickets_close_idle(tenant=tenant) == 0


def test_the_beat_schedules_are_registered():
    from django_celery_beat.models import PeriodicTask

    tasks_by_name = dict(PeriodicTask.objects.values_list("task", "interval__every"))
    assert tasks_by_name["tickets.send_due_scheduled_messages"] == 1
    assert tasks_by_name["tickets.close_idle_tickets"] == 10
