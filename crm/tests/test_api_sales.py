"""The API of deals, pipelines, labels, tasks, meetings and escalations."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from crm.models import Deal, DealActivity, Escalation, Meeting, Task
from crm.tests.factories import (
    ContactFactory,
    DealFactory,
    DealLabelFactory,
    EscalationFactory,
    StageFactory,
    TaskFactory,
)
from tenants.context import tenant_context
from tickets.models import Ticket
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

DEALS = "/api/v1/crm/deals/"


def _user(client):
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User

    return User.objects.get(pk=AccessToken(client.tokens.access)["user_id"])


# --- deals ------------------------------------------------------------------------------------


def test_an_agent_creates_a_deal_in_the_default_pipeline(tenant, agent, published):
    contact = ContactFactory(tenant=tenant)
    label = DealLabelFactory(tenant=tenant)
    response = agent.post(
        DEALS,
        {"title": "Plano anual", "contact": contact.pk, "value": "1200.50", "labels": [label.pk], "need": "Suporte"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["title"], body["value"], body["currency"], body["status"]) == ("Plano anual", "1200.50", "BRL", "open")
    assert body["contact"]["id"] == contact.pk and [item["id"] for item in body["labels"]] == [label.pk]
    assert body["owner"]["id"] == _user(agent).pk
    assert [event_type for _g, event_type, _d in published] == ["deal.created"]


def test_a_deal_needs_a_title_and_ids_of_this_tenant(tenant, other_tenant, agent):
    response = agent.post(DEALS, {"value": "10"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    foreign_stage = StageFactory(tenant=other_tenant)
    response = agent.post(DEALS, {"title": "X", "stage": foreign_stage.pk}, format="json")
    assert response.status_code == 400
    assert "stage" in response.json()["fields"]
    with tenant_context(tenant):
        assert Deal.objects.count() == 0


def test_moving_winning_and_losing_through_the_api(tenant, agent):
    deal = DealFactory(tenant=tenant)
    target = StageFactory(tenant=tenant, pipeline=deal.stage.pipeline)
    response = agent.post(f"{DEALS}{deal.pk}/move/", {"stage": target.pk}, format="json")
    assert (response.status_code, response.json()["stage"]) == (200, target.pk)
    response = agent.post(f"{DEALS}{deal.pk}/lose/", {"reason": " "}, format="json")
    assert response.status_code == 400
    response = agent.post(f"{DEALS}{deal.pk}/win/")
    assert (response.status_code, response.json()["status"]) == (200, "won")
    response = agent.post(f"{DEALS}{deal.pk}/win/")
    assert (response.status_code, response.json()["code"]) == (409, "deal_closed")
    timeline = agent.get(f"{DEALS}{deal.pk}/timeline/").json()["results"]
    assert [item["type"] for item in timeline] == ["status_change", "stage_change"]


def test_deals_filter_and_search_within_a_query_budget(tenant, agent, django_assert_max_num_queries):
    stage = StageFactory(tenant=tenant)
    wanted = DealFactory(tenant=tenant, stage=stage, title="Franquia Centro")
    for _ in range(5):
        deal = DealFactory(tenant=tenant, stage=stage)
        deal.labels.add(DealLabelFactory(tenant=tenant))
    DealFactory(tenant=tenant, title="Franquia Sul")  # another stage
    with django_assert_max_num_queries(8):
        response = agent.get(DEALS, {"stage": stage.pk, "search": "franquia"})
    assert [item["id"] for item in response.json()["results"]] == [wanted.pk]
    with django_assert_max_num_queries(8):
        response = agent.get(DEALS, {"pipeline": stage.pipeline_id})
    assert response.json()["count"] == 6


def test_agents_do_not_delete_deals_but_staff_do(tenant, agent, supervisor):
    deal = DealFactory(tenant=tenant)
    response = agent.delete(f"{DEALS}{deal.pk}/")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert supervisor.delete(f"{DEALS}{deal.pk}/").status_code == 204


def test_activities_add_notes_but_not_stage_changes(tenant, agent):
    deal = DealFactory(tenant=tenant)
    response = agent.post("/api/v1/crm/activities/", {"deal": deal.pk, "type": "call", "text": "Ligou"}, format="json")
    assert response.status_code == 201, response.content
    response = agent.post("/api/v1/crm/activities/", {"deal": deal.pk, "type": "stage_change"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_activity_type")
    with tenant_context(tenant):
        assert list(DealActivity.objects.values_list("type", flat=True)) == ["call"]


# --- pipelines, stages, labels ------------------------------------------------------------


def test_staff_create_pipelines_with_stages_and_agents_read_them(agent, supervisor):
    response = supervisor.post(
        "/api/v1/crm/pipelines/", {"name": "Revenda", "stage_names": ["Contato", "Contrato"]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert [stage["name"] for stage in response.json()["stages"]] == ["Contato", "Contrato"]
    assert agent.post("/api/v1/crm/pipelines/", {"name": "X"}, format="json").status_code == 403
    listed = agent.get("/api/v1/crm/pipelines/").json()["results"]
    assert [pipeline["name"] for pipeline in listed] == ["Revenda"]


def test_label_names_are_unique(supervisor):
    assert supervisor.post("/api/v1/crm/labels/", {"name": "Quente"}, format="json").status_code == 201
    response = supervisor.post("/api/v1/crm/labels/", {"name": "quente"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "deal_label_exists")


# --- tasks ----------------------------------------------------------------------------------


def test_agents_see_their_tasks_and_the_overdue_ones(tenant, agent, make_member):
    me = _user(agent)
    late = TaskFactory(tenant=tenant, assignee=me, due_at=timezone.now() - timedelta(hours=2))
    TaskFactory(tenant=tenant, assignee=me, due_at=timezone.now() + timedelta(hours=2))
    TaskFactory(tenant=tenant, assignee=make_member(tenant, Role.AGENT), due_at=timezone.now() - timedelta(hours=2))
    assert agent.get("/api/v1/tasks/").json()["count"] == 2
    overdue = agent.get("/api/v1/tasks/overdue/").json()["results"]
    assert [(task["id"], task["overdue"]) for task in overdue] == [(late.pk, True)]


def test_creating_and_completing_a_task(tenant, agent, published):
    response = agent.post(
        "/api/v1/tasks/", {"title": "Retornar", "due_at": "2030-01-15T09:00:00"}, format="json"
    )  # no offset: the tenant's time zone (São Paulo, UTC−3)
    assert response.status_code == 201, response.content
    task_id = response.json()["id"]
    with tenant_context(tenant):
        assert Task.objects.get(pk=task_id).due_at.isoformat() == "2030-01-15T12:00:00+00:00"
    response = agent.post(f"/api/v1/tasks/{task_id}/complete/")
    assert (response.status_code, response.json()["done"]) == (200, True)
    assert agent.post(f"/api/v1/tasks/{task_id}/complete/").json()["code"] == "task_already_done"
    assert "task.completed" in [event_type for _g, event_type, _d in published]


# --- meetings -------------------------------------------------------------------------------


def test_meetings_are_created_and_cancelled(tenant, agent):
    contact = ContactFactory(tenant=tenant)
    starts_at = (timezone.now() + timedelta(days=1)).isoformat()
    response = agent.post(
        "/api/v1/meetings/",
        {"title": "Demo", "contact": contact.pk, "starts_at": starts_at, "duration_minutes": 45, "location": "Sala 2"},
        format="json",
    )
    assert response.status_code == 201, response.content
    meeting_id = response.json()["id"]
    response = agent.post(f"/api/v1/meetings/{meeting_id}/cancel/")
    body = response.json()
    assert (response.status_code, body["status"], body["failure_code"]) == (200, "cancelled", "no_conversation")
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = agent.post("/api/v1/meetings/", {"title": "X", "contact": contact.pk, "starts_at": past}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "meeting_in_past")
    with tenant_context(tenant):
        assert Meeting.objects.count() == 1


# --- escalations ----------------------------------------------------------------------------


def test_an_agent_escalates_and_a_supervisor_takes_and_resolves(tenant, agent, supervisor):
    ticket = TicketFactory(tenant=tenant, status=Ticket.Status.OPEN, assignee=_user(agent))
    response = agent.post(
        "/api/v1/escalations/", {"ticket": ticket.pk, "reason": "Pede reembolso", "priority": "urgent"}, format="json"
    )
    assert response.status_code == 201, response.content
    escalation_id = response.json()["id"]
    assert response.json()["assigned_to"]["id"] == _user(supervisor).pk
    assert agent.post(f"/api/v1/escalations/{escalation_id}/take/").status_code == 403
    assert supervisor.post(f"/api/v1/escalations/{escalation_id}/take/").json()["status"] == "taken"
    response = supervisor.post(f"/api/v1/escalations/{escalation_id}/resolve/", {"note": "Reembolsado"}, format="json")
    assert (response.json()["status"], response.json()["resolution_note"]) == ("resolved", "Reembolsado")
    response = agent.post("/api/v1/escalations/", {"ticket": ticket.pk, "reason": "De novo"}, format="json")
    assert response.status_code == 201  # the earlier one is resolved


def test_agents_list_only_their_escalations(tenant, agent, supervisor):
    EscalationFactory(tenant=tenant)
    mine = EscalationFactory(tenant=tenant, raised_by=_user(agent))
    assert [item["id"] for item in agent.get("/api/v1/escalations/").json()["results"]] == [mine.pk]
    assert supervisor.get("/api/v1/escalations/").json()["count"] == 2
    with tenant_context(tenant):
        assert Escalation.objects.count() == 2


# --- query budgets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/tasks/",
        "/api/v1/meetings/",
        "/api/v1/escalations/",
        "/api/v1/crm/activities/",
        "/api/v1/crm/pipelines/",
    ],
)
def test_lists_keep_a_query_budget(tenant, supervisor, url, django_assert_max_num_queries):
    from crm.tests.factories import DealActivityFactory, MeetingFactory, PipelineFactory

    for _ in range(4):
        TaskFactory(tenant=tenant, assignee=_user(supervisor), contact=ContactFactory(tenant=tenant))
        MeetingFactory(tenant=tenant, organizer=_user(supervisor))
        EscalationFactory(tenant=tenant, raised_by=_user(supervisor))
        DealActivityFactory(tenant=tenant)
        StageFactory(tenant=tenant, pipeline=PipelineFactory(tenant=tenant))
    with django_assert_max_num_queries(7):
        response = supervisor.get(url)
    assert response.status_code == 200
    assert response.json()["count"] >= 4
