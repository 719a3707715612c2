"""Tasks and meetings: overdue lists, reminders (once, at the right time in the tenant's time
zone, with time given to the services as `now=`), WhatsApp notices over the fake Graph API."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from crm import selectors_sales, services_agenda
from crm.exceptions import MeetingCancelled, MeetingInPast, TaskAlreadyDone
from crm.models import Meeting, Task
from crm.tasks import send_meeting_reminders, send_task_reminders
from crm.tests.factories import ContactFactory, MeetingFactory, TaskFactory
from tenants.context import tenant_context
from tickets.models import Message, Ticket
from tickets.tests.factories import TicketFactory
from whatsapp.models import Connection
from whatsapp.tests.factories import ConnectionFactory
from whatsapp.tests.fakes import FakeGraphAPI

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_tenant(tenant):
    with tenant_context(tenant):
        yield tenant


@pytest.fixture
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT)


# --- tasks ----------------------------------------------------------------------------------


def test_a_time_without_offset_is_the_tenants_wall_clock(tenant, agent):
    tenant.timezone = "America/Sao_Paulo"  # UTC−3 all year
    task = services_agenda.task_create(tenant=tenant, actor=agent, title="Ligar", due_at=datetime(2026, 3, 10, 9, 0))
    assert task.due_at == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert task.remind_at == task.due_at
    assert task.assignee_id == agent.pk


def test_a_reminder_fires_once_at_its_time_in_the_tenants_time_zone(tenant, agent, published):
    tenant.timezone = "America/Sao_Paulo"
    task = services_agenda.task_create(
        tenant=tenant,
        actor=agent,
        title="Enviar proposta",
        due_at=datetime(2026, 3, 10, 10, 0),
        remind_at=datetime(2026, 3, 10, 9, 30),  # 12:30 UTC
    )
    published.clear()
    assert services_agenda.task_reminders_send(now=datetime(2026, 3, 10, 12, 29, tzinfo=UTC)) == 0
    assert services_agenda.task_reminders_send(now=datetime(2026, 3, 10, 12, 30, tzinfo=UTC)) == 1
    assert services_agenda.task_reminders_send(now=datetime(2026, 3, 10, 12, 31, tzinfo=UTC)) == 0
    assert [(groups, event_type) for groups, event_type, _data in published] == [
        ([f"tenant.{tenant.pk}.user.{agent.pk}"], "task.reminder")
    ]
    assert published[0][2]["id"] == task.pk
    task.refresh_from_db()
    assert task.reminded_at == datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def test_moving_the_due_time_arms_the_reminder_again(tenant, agent):
    task = TaskFactory(tenant=tenant, assignee=agent, remind_at=timezone.now(), reminded_at=timezone.now())
    moved = services_agenda.task_update(task=task, actor=agent, due_at=timezone.now() + timedelta(days=1))
    assert (moved.reminded_at, moved.remind_at) == (None, moved.due_at)


def test_done_tasks_are_not_reminded(tenant, agent):
    TaskFactory(tenant=tenant, assignee=agent, remind_at=timezone.now() - timedelta(minutes=1), done=True)
    assert services_agenda.task_reminders_send() == 0


def test_the_beat_job_reminds_each_due_task_once(tenant, agent, published, django_capture_on_commit_callbacks):
    TaskFactory(tenant=tenant, assignee=agent, remind_at=timezone.now() - timedelta(minutes=1))
    TaskFactory(tenant=tenant, assignee=agent, remind_at=timezone.now() + timedelta(hours=1))
    with tenant_context(None):
        assert send_task_reminders() == 1
        assert send_task_reminders() == 0
    assert [event_type for _g, event_type, _d in published].count("task.reminder") == 1


def test_overdue_lists_open_tasks_past_due_oldest_first(tenant, agent, make_member):
    now = timezone.now()
    late = TaskFactory(tenant=tenant, assignee=agent, due_at=now - timedelta(hours=1))
    later = TaskFactory(tenant=tenant, assignee=agent, due_at=now - timedelta(days=1))
    TaskFactory(tenant=tenant, assignee=agent, due_at=now - timedelta(days=2), done=True)
    TaskFactory(tenant=tenant, assignee=agent, due_at=now + timedelta(hours=1))
    TaskFactory(tenant=tenant, assignee=make_member(tenant, Role.AGENT), due_at=now - timedelta(hours=1))
    mine = selectors_sales.task_list_for_user(tenant=tenant, user=agent, role=Role.AGENT)
    assert [task.pk for task in selectors_sales.task_overdue(mine, now=now)] == [later.pk, late.pk]


def test_completing_a_task_tells_its_audience(tenant, agent, supervisor_user, published):
    task = TaskFactory(tenant=tenant, assignee=agent, created_by=supervisor_user)
    done = services_agenda.task_complete(task=task, actor=agent)
    assert (done.done, done.completed_by_id, done.done_at is not None) == (True, agent.pk, True)
    (groups, event_type, data) = published[-1]
    assert event_type == "task.completed"
    assert groups == sorted(
        [
            f"tenant.{tenant.pk}.staff",
            f"tenant.{tenant.pk}.user.{agent.pk}",
            f"tenant.{tenant.pk}.user.{supervisor_user.pk}",
        ]
    )
    assert data["done"] is True
    with pytest.raises(TaskAlreadyDone):
        services_agenda.task_complete(task=task, actor=agent)


# --- meetings -------------------------------------------------------------------------------


@pytest.fixture
def fake_graph():
    with FakeGraphAPI() as server:
        yield server


@pytest.fixture
def contact_in_conversation(tenant, fake_graph):
    """A contact who wrote an hour ago on a Cloud connection aimed at the fake Graph API."""
    connection = ConnectionFactory(
        tenant=tenant,
        api_base_url=fake_graph.url,
        phone_number_id=fake_graph.phone_number_id,
        graph_api_version=fake_graph.version,
        access_token=fake_graph.access_token,
    )
    ticket = TicketFactory(
        tenant=tenant,
        connection=connection,
        status=Ticket.Status.OPEN,
        last_inbound_at=timezone.now() - timedelta(hours=1),
        contact=ContactFactory(tenant=tenant, phone="5511987654321", wa_id="5511987654321"),
    )
    return ticket.contact


def _texts(fake_graph):
    return [request.json()["text"]["body"] for request in fake_graph.requests_to("POST", fake_graph.messages_path)]


def test_the_contact_is_reminded_once_n_minutes_before(
    tenant, agent, contact_in_conversation, fake_graph, django_capture_on_commit_callbacks
):
    starts_at = timezone.now() + timedelta(hours=3)
    meeting = services_agenda.meeting_create(
        tenant=tenant,
        actor=agent,
        contact=contact_in_conversation,
        title="Demonstração",
        starts_at=starts_at,
        location="https://meet.example.com/abc",
        remind_minutes_before=30,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services_agenda.meeting_reminders_send(now=starts_at - timedelta(minutes=31)) == 0
        assert services_agenda.meeting_reminders_send(now=starts_at - timedelta(minutes=30)) == 1
        assert services_agenda.meeting_reminders_send(now=starts_at - timedelta(minutes=29)) == 0
    (text,) = _texts(fake_graph)
    assert "Demonstração" in text and "https://meet.example.com/abc" in text
    meeting.refresh_from_db()
    assert meeting.reminder_sent_at == starts_at - timedelta(minutes=30)
    assert meeting.failure_code == ""
    message = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert (message.sender_type, message.status) == (Message.SenderType.SYSTEM, "sent")


def test_a_closed_window_is_recorded_on_the_meeting(tenant, agent, contact_in_conversation, fake_graph):
    Ticket.objects.filter(contact=contact_in_conversation).update(last_inbound_at=timezone.now() - timedelta(hours=30))
    meeting = MeetingFactory(
        tenant=tenant, contact=contact_in_conversation, starts_at=timezone.now() + timedelta(minutes=20)
    )
    assert services_agenda.meeting_reminders_send() == 0
    meeting.refresh_from_db()
    assert meeting.failure_code == "whatsapp_window_closed"
    assert meeting.reminder_sent_at is not None  # tried once: not again every minute
    assert Message.objects.count() == 0
    assert fake_graph.requests_to("POST", fake_graph.messages_path) == []


def test_a_contact_without_conversation_is_recorded_on_the_meeting(tenant, agent):
    meeting = MeetingFactory(tenant=tenant, starts_at=timezone.now() + timedelta(minutes=20))
    cancelled = services_agenda.meeting_cancel(meeting=meeting, actor=agent)
    assert (cancelled.status, cancelled.failure_code) == (Meeting.Status.CANCELLED, "no_conversation")


def test_cancel_and_reschedule_tell_the_contact(
    tenant, agent, contact_in_conversation, fake_graph, django_capture_on_commit_callbacks
):
    meeting = MeetingFactory(
        tenant=tenant,
        contact=contact_in_conversation,
        title="Visita técnica",
        starts_at=timezone.now() + timedelta(days=1),
        reminder_sent_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        moved = services_agenda.meeting_reschedule(
            meeting=meeting, actor=agent, starts_at=timezone.now() + timedelta(days=2)
        )
    assert moved.reminder_sent_at is None  # armed again for the new time
    with django_capture_on_commit_callbacks(execute=True):
        services_agenda.meeting_cancel(meeting=moved, actor=agent)
    moved_text, cancelled_text = _texts(fake_graph)
    # In the tenant's language (pt-BR by default).
    assert "Visita técnica" in moved_text and "remarcada" in moved_text
    assert "Visita técnica" in cancelled_text and "cancelada" in cancelled_text
    with pytest.raises(MeetingCancelled):
        services_agenda.meeting_cancel(meeting=moved, actor=agent)
    assert services_agenda.meeting_reminders_send(now=moved.starts_at - timedelta(minutes=1)) == 0


def test_a_meeting_must_start_in_the_future(tenant, agent):
    with pytest.raises(MeetingInPast):
        services_agenda.meeting_create(
            tenant=tenant,
            actor=agent,
            contact=ContactFactory(tenant=tenant),
            title="Ontem",
            starts_at=timezone.now() - timedelta(minutes=1),
        )
    assert Meeting.objects.count() == 0


def test_the_beat_job_fans_out_to_tenants_with_meetings_coming(tenant, contact_in_conversation, fake_graph):
    MeetingFactory(tenant=tenant, contact=contact_in_conversation, starts_at=timezone.now() + timedelta(minutes=10))
    with tenant_context(None):
        assert send_meeting_reminders() == 1
        assert send_meeting_reminders() == 0
    assert Task.objects.count() == 0


def test_a_meeting_about_a_deal_shows_on_its_timeline(tenant, agent):
    from crm.models import DealActivity
    from crm.tests.factories import DealFactory

    deal = DealFactory(tenant=tenant)
    starts_at = timezone.now() + timedelta(days=1)
    meeting = services_agenda.meeting_create(
        tenant=tenant, actor=agent, contact=deal.contact, deal=deal, title="Apresentação", starts_at=starts_at
    )
    (activity,) = DealActivity.objects.filter(deal=deal)
    assert (activity.type, activity.text, activity.actor_id) == ("meeting", "Apresentação", agent.pk)
    assert activity.data == {"meeting_id": meeting.pk, "starts_at": starts_at.isoformat()}


def test_an_assignee_with_a_whatsapp_number_is_also_reminded_there(
    tenant, agent, fake_graph, contact_in_conversation, django_capture_on_commit_callbacks
):
    from accounts.models import Membership

    membership = Membership.objects.get(user=agent)
    membership.whatsapp_number = "+55 (11) 91234-5678"
    membership.full_clean()
    membership.save()
    assert membership.whatsapp_number == "5511912345678"
    tenant.language, tenant.timezone = "en", "America/Sao_Paulo"
    tenant.save()
    Connection.objects.update(status=Connection.Status.CONNECTED)  # contact_in_conversation's
    task = TaskFactory(
        tenant=tenant,
        assignee=agent,
        title="Call back",
        contact=contact_in_conversation,
        due_at=datetime(2026, 3, 10, 12, 30, tzinfo=UTC),
        remind_at=timezone.now() - timedelta(minutes=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services_agenda.task_reminders_send() == 1
    sent = [r.json() for r in fake_graph.requests_to("POST", fake_graph.messages_path)]
    assert [(m["to"], m["text"]["body"].splitlines()[0]) for m in sent] == [
        ("5511912345678", "Reminder: Call back (due 03/10/2026 9:30 a.m.)")
    ]
    assert task.title in sent[0]["text"]["body"]


def test_without_a_number_the_reminder_stays_in_the_app(tenant, agent, fake_graph, contact_in_conversation):
    task = TaskFactory(tenant=tenant, assignee=agent, remind_at=timezone.now() - timedelta(minutes=1))
    assert services_agenda.task_reminder_whatsapp_send(task_id=task.pk) is False
    assert fake_graph.requests_to("POST", fake_graph.messages_path) == []
