"""The admin's deals board and the admin writes that go through the services."""

import pytest
from django.urls import reverse

from accounts.models import Role
from crm.models import Deal, DealActivity, Escalation
from crm.tests.factories import DealFactory, EscalationFactory, StageFactory
from tenants.context import tenant_context
from tenants.selectors import SESSION_TENANT_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_supervisor(client, tenant, make_member):
    user = make_member(tenant, Role.SUPERVISOR)
    client.force_login(user)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    client.user = user
    return client


def test_the_board_shows_open_deals_by_stage_and_moves_them(as_supervisor, tenant):
    deal = DealFactory(tenant=tenant, title="Licença anual")
    target = StageFactory(tenant=tenant, pipeline=deal.stage.pipeline, name="Contrato")
    url = reverse("admin:crm_deal_board")
    response = as_supervisor.get(url, {"pipeline": deal.stage.pipeline_id})
    body = response.content.decode()
    assert response.status_code == 200 and "Licença anual" in body and "Contrato" in body
    assert url in as_supervisor.get(reverse("admin:crm_deal_changelist")).content.decode()
    response = as_supervisor.post(url, {"deal": deal.pk, "stage": target.pk})
    assert response.status_code == 302
    with tenant_context(tenant):
        deal.refresh_from_db()
        assert deal.stage_id == target.pk
        assert DealActivity.objects.get(deal=deal).type == DealActivity.Type.STAGE_CHANGE


def test_adding_a_deal_in_the_admin_records_its_creation(as_supervisor, tenant):
    stage = StageFactory(tenant=tenant)
    response = as_supervisor.post(
        reverse("admin:crm_deal_add"),
        {"title": "Pelo admin", "stage": stage.pk, "value": "10.00", "currency": "BRL", "custom_fields": "{}"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    with tenant_context(tenant):
        deal = Deal.objects.get(title="Pelo admin")
        assert DealActivity.objects.get(deal=deal).type == DealActivity.Type.CREATED


def test_supervisors_take_escalations_with_the_action(as_supervisor, tenant):
    escalation = EscalationFactory(tenant=tenant)
    response = as_supervisor.post(
        reverse("admin:crm_escalation_changelist"), {"action": "take", "_selected_action": [escalation.pk]}
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        escalation.refresh_from_db()
        assert (escalation.status, escalation.assigned_to_id) == (Escalation.Status.TAKEN, as_supervisor.user.pk)
