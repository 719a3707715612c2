"""The CRM in the inbox: the deals board, moving a card, the contact panel's deals and tasks."""

from datetime import UTC, datetime

import pytest

from accounts.models import Role
from crm.models import Deal, DealActivity, Task
from crm.tests.factories import ContactFactory, DealFactory, StageFactory, TaskFactory
from tenants.context import tenant_context
from tickets.tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _english(tenant):
    tenant.language = "en"
    tenant.save(update_fields=["language"])


@pytest.fixture
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT, name="Ana Agente")


@pytest.fixture
def as_agent(client, agent):
    client.force_login(agent)
    return client


def test_the_board_shows_the_default_pipeline_and_its_open_deals(as_agent, tenant, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        first = as_agent.get("/inbox/crm/")  # creates the default pipeline the first time
    assert first.status_code == 200
    body = first.content.decode()
    for stage in ("New", "Qualified", "Proposal", "Negotiation"):
        assert stage in body
    stage = StageFactory(tenant=tenant, name="Fechamento")
    DealFactory(tenant=tenant, stage=stage, title="Contrato grande")
    DealFactory(tenant=tenant, stage=stage, title="Perdido antes", status=Deal.Status.LOST)
    body = as_agent.get("/inbox/crm/", {"pipeline": stage.pipeline_id}).content.decode()
    assert "Contrato grande" in body and "Perdido antes" not in body
    assert 'draggable="true"' in body and "crm/board.js" in body


def test_dropping_a_card_moves_the_deal_through_the_service(as_agent, tenant, agent):
    deal = DealFactory(tenant=tenant)
    target = StageFactory(tenant=tenant, pipeline=deal.stage.pipeline)
    response = as_agent.post(f"/inbox/crm/deals/{deal.pk}/move/", {"stage": target.pk})
    assert response.status_code == 200
    assert f'data-deal-id="{deal.pk}"' in response.content.decode()
    with tenant_context(tenant):
        deal.refresh_from_db()
        assert deal.stage_id == target.pk
        assert DealActivity.objects.get(deal=deal).actor_id == agent.pk


def test_another_tenants_deal_cannot_be_moved(as_agent, tenant, other_tenant):
    foreign = DealFactory(tenant=other_tenant)
    stage = StageFactory(tenant=tenant)
    assert as_agent.post(f"/inbox/crm/deals/{foreign.pk}/move/", {"stage": stage.pk}, **HTMX).status_code == 404


def test_the_quick_form_adds_a_card_to_its_column(as_agent, tenant):
    stage = StageFactory(tenant=tenant)
    response = as_agent.post("/inbox/crm/deals/", {"title": "Novo lead", "stage": stage.pk}, **HTMX)
    assert response.status_code == 201
    with tenant_context(tenant):
        assert Deal.objects.get().stage_id == stage.pk


def test_the_contact_panel_loads_deals_and_tasks_and_creates_them(as_agent, tenant, agent):
    tenant.timezone = "America/Sao_Paulo"
    tenant.save(update_fields=["timezone"])
    ticket = TicketFactory(tenant=tenant, assignee=agent, status="open")
    contact = ticket.contact
    conversation = as_agent.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    assert f"/inbox/crm/contacts/{contact.pk}/" in conversation  # the panel's loader
    DealFactory(tenant=tenant, contact=contact, title="Renovação")
    TaskFactory(tenant=tenant, contact=contact, assignee=agent, title="Mandar contrato")
    body = as_agent.get(f"/inbox/crm/contacts/{contact.pk}/", **HTMX).content.decode()
    assert "Renovação" in body and "Mandar contrato" in body

    response = as_agent.post(
        f"/inbox/crm/contacts/{contact.pk}/tasks/", {"title": "Ligar amanhã", "due_at": "2030-05-02T09:30"}, **HTMX
    )
    assert response.status_code == 200 and "Ligar amanhã" in response.content.decode()
    response = as_agent.post("/inbox/crm/deals/", {"title": "Upsell", "contact": contact.pk, "panel": "1"}, **HTMX)
    assert "Upsell" in response.content.decode()
    with tenant_context(tenant):
        task = Task.objects.get(title="Ligar amanhã")
        assert task.due_at == datetime(2030, 5, 2, 12, 30, tzinfo=UTC)  # 09:30 in São Paulo
        assert (task.contact_id, task.assignee_id) == (contact.pk, agent.pk)
        assert Deal.objects.get(title="Upsell").contact_id == contact.pk


def test_completing_a_task_from_the_panel(as_agent, tenant, agent):
    contact = ContactFactory(tenant=tenant)
    task = TaskFactory(tenant=tenant, contact=contact, assignee=agent, title="Revisar")
    response = as_agent.post(f"/inbox/crm/tasks/{task.pk}/complete/", **HTMX)
    assert response.status_code == 200 and "Revisar" not in response.content.decode()
    with tenant_context(tenant):
        assert Task.objects.get(pk=task.pk).done is True


def test_an_invalid_form_answers_with_the_flash(as_agent, tenant):
    contact = ContactFactory(tenant=tenant)
    response = as_agent.post(f"/inbox/crm/contacts/{contact.pk}/tasks/", {"title": "Sem data"}, **HTMX)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flash"
