"""Real-time events of the CRM (deals, tasks, meetings, escalations), sent after commit through
tickets.events.publish to the groups allowed to see them:

* deals: every member of the tenant (the board is shared);
* tasks and meetings: the staff, the assignee/organizer and whoever created the task;
* escalations: the staff, the agent who raised it and the supervisor it was offered to.
"""

from tenants.consumers import user_group
from tickets import events


def _users(tenant_id: int, *user_ids) -> set[str]:
    return {user_group(tenant_id, user_id) for user_id in user_ids if user_id}


def deal_audience(deal) -> set[str]:
    return {events.everyone_group(deal.tenant_id)}


def deal_event(deal, event_type: str) -> None:
    from crm.api.sales_serializers import DealSerializer

    events.publish(deal_audience(deal), event_type, DealSerializer(deal).data)


def deal_deleted(deal) -> None:
    events.publish(deal_audience(deal), "deal.deleted", {"id": deal.pk})


def task_audience(task) -> set[str]:
    return {events.staff_group(task.tenant_id)} | _users(task.tenant_id, task.assignee_id, task.created_by_id)


def task_event(task, event_type: str) -> None:
    from crm.api.sales_serializers import TaskSerializer

    events.publish(task_audience(task), event_type, TaskSerializer(task).data)


def task_deleted(task) -> None:
    events.publish(task_audience(task), "task.deleted", {"id": task.pk})


def task_reminder(task) -> None:
    """Only the assignee is reminded (or the staff, when the task has nobody)."""
    from crm.api.sales_serializers import TaskSerializer

    audience = _users(task.tenant_id, task.assignee_id) or {events.staff_group(task.tenant_id)}
    events.publish(audience, "task.reminder", TaskSerializer(task).data)


def meeting_event(meeting, event_type: str) -> None:
    from crm.api.sales_serializers import MeetingSerializer

    audience = {events.staff_group(meeting.tenant_id)} | _users(meeting.tenant_id, meeting.organizer_id)
    events.publish(audience, event_type, MeetingSerializer(meeting).data)


def escalation_audience(escalation) -> set[str]:
    return {events.staff_group(escalation.tenant_id)} | _users(
        escalation.tenant_id, escalation.raised_by_id, escalation.assigned_to_id
    )


def escalation_event(escalation, event_type: str) -> None:
    from crm.api.sales_serializers import EscalationSerializer

    events.publish(escalation_audience(escalation), event_type, EscalationSerializer(escalation).data)
