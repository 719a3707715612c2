"""Pipelines, deals and their timeline (services)."""

from decimal import Decimal

import pytest

from crm import selectors_sales, services_sales
from crm.exceptions import DealClosed, DealNotClosed, DefaultPipelineRequired, LostReasonRequired, PipelineInUse
from crm.models import Deal, DealActivity, Pipeline, Stage
from crm.tests.factories import ContactFactory, DealFactory, DealLabelFactory, StageFactory
from tenants.context import tenant_context
from tenants.services import tenant_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_tenant(tenant):
    with tenant_context(tenant):
        yield tenant


def test_a_new_tenant_gets_a_default_pipeline_with_stages():
    tenant = tenant_create(name="Loja Nova", language="en")
    pipeline = Pipeline.all_tenants.get(tenant=tenant, is_default=True)
    assert pipeline.name == "Sales pipeline"
    assert list(Stage.all_tenants.filter(pipeline=pipeline).order_by("order").values_list("name", flat=True)) == [
        "New",
        "Qualified",
        "Proposal",
        "Negotiation",
    ]


def test_the_default_pipeline_is_created_once(tenant):
    first = services_sales.pipeline_default_get_or_create(tenant=tenant)
    again = services_sales.pipeline_default_get_or_create(tenant=tenant)
    assert first.pk == again.pk
    assert Pipeline.objects.filter(is_default=True).count() == 1
    assert Stage.objects.filter(pipeline=first).count() == 4


def test_a_deal_without_stage_lands_in_the_first_stage_of_the_default_pipeline(tenant, admin_user, published):
    contact = ContactFactory(tenant=tenant)
    label = DealLabelFactory(tenant=tenant)
    deal = services_sales.deal_create(
        tenant=tenant,
        actor=admin_user,
        title=" Plano anual ",
        contact=contact,
        value=Decimal("1500.00"),
        currency="brl",
        labels=[label],
        budget=Decimal("2000"),
        authority="CEO",
        need="Atendimento 24h",
        timeline="Q1",
    )
    first_stage = Stage.objects.filter(pipeline__is_default=True).order_by("order").first()
    assert (deal.title, deal.stage_id, deal.owner_id, deal.currency, deal.status) == (
        "Plano anual",
        first_stage.pk,
        admin_user.pk,
        "BRL",
        Deal.Status.OPEN,
    )
    assert [label.pk for label in deal.labels.all()] == [label.pk]
    (created,) = DealActivity.objects.filter(deal=deal)
    assert (created.type, created.actor_id) == (DealActivity.Type.CREATED, admin_user.pk)
    assert [event_type for _groups, event_type, _data in published] == ["deal.created"]
    groups, _type, data = published[0]
    assert groups == [f"tenant.{tenant.pk}"]
    assert data["id"] == deal.pk and data["stage"] == first_stage.pk


def test_moving_a_deal_records_the_stage_change(tenant, agent_user, published):
    deal = DealFactory(tenant=tenant)
    target = StageFactory(tenant=tenant, pipeline=deal.stage.pipeline, name="Proposta")
    origin = deal.stage
    moved = services_sales.deal_move(deal=deal, stage=target, actor=agent_user)
    assert moved.stage_id == target.pk
    (activity,) = DealActivity.objects.filter(deal=deal)
    assert activity.type == DealActivity.Type.STAGE_CHANGE
    assert activity.actor_id == agent_user.pk
    assert activity.data == {
        "from_stage_id": origin.pk,
        "from_stage": origin.name,
        "to_stage_id": target.pk,
        "to_stage": "Proposta",
    }
    assert [event_type for _g, event_type, _d in published] == ["deal.updated"]


def test_moving_to_the_same_stage_records_nothing(tenant, agent_user, published):
    deal = DealFactory(tenant=tenant)
    services_sales.deal_move(deal=deal, stage=deal.stage, actor=agent_user)
    assert DealActivity.objects.count() == 0
    assert published == []


def test_an_update_with_a_new_stage_is_a_move(tenant, agent_user):
    deal = DealFactory(tenant=tenant)
    target = StageFactory(tenant=tenant, pipeline=deal.stage.pipeline)
    services_sales.deal_update(deal=deal, actor=agent_user, stage=target, value=Decimal("10"))
    deal.refresh_from_db()
    assert (deal.stage_id, deal.value) == (target.pk, Decimal("10.00"))
    assert list(DealActivity.objects.values_list("type", flat=True)) == [DealActivity.Type.STAGE_CHANGE]


def test_won_and_lost_are_recorded_and_close_the_deal(tenant, agent_user):
    won = services_sales.deal_win(deal=DealFactory(tenant=tenant), actor=agent_user)
    lost = services_sales.deal_lose(deal=DealFactory(tenant=tenant), actor=agent_user, reason="Preço")
    assert (won.status, won.lost_reason, won.closed_at is not None) == (Deal.Status.WON, "", True)
    assert (lost.status, lost.lost_reason) == (Deal.Status.LOST, "Preço")
    activity = DealActivity.objects.get(deal=lost)
    assert (activity.type, activity.text, activity.data) == (
        DealActivity.Type.STATUS_CHANGE,
        "Preço",
        {"from_status": "open", "to_status": "lost"},
    )


def test_losing_needs_a_reason_and_a_closed_deal_does_not_move(tenant, agent_user):
    deal = DealFactory(tenant=tenant)
    with pytest.raises(LostReasonRequired):
        services_sales.deal_lose(deal=deal, actor=agent_user, reason="  ")
    services_sales.deal_win(deal=deal, actor=agent_user)
    with pytest.raises(DealClosed):
        services_sales.deal_win(deal=deal, actor=agent_user)
    with pytest.raises(DealClosed):
        services_sales.deal_move(deal=deal, stage=StageFactory(tenant=tenant), actor=agent_user)
    reopened = services_sales.deal_reopen(deal=deal, actor=agent_user)
    assert (reopened.status, reopened.closed_at) == (Deal.Status.OPEN, None)
    with pytest.raises(DealNotClosed):
        services_sales.deal_reopen(deal=deal, actor=agent_user)


def test_the_timeline_is_newest_first(tenant, agent_user):
    deal = DealFactory(tenant=tenant)
    services_sales.activity_add(deal=deal, actor=agent_user, type="note", text="Primeiro contato")
    services_sales.deal_win(deal=deal, actor=agent_user)
    assert [a.type for a in selectors_sales.deal_timeline(deal=deal)] == ["status_change", "note"]


def test_the_board_has_the_open_deals_by_stage(tenant, agent_user, django_assert_num_queries):
    first = StageFactory(tenant=tenant, order=0)
    second = StageFactory(tenant=tenant, pipeline=first.pipeline, order=1)
    open_deal = DealFactory(tenant=tenant, stage=second)
    DealFactory(tenant=tenant, stage=second, status=Deal.Status.WON)
    with django_assert_num_queries(3):  # stages, deals, labels
        board = selectors_sales.deal_board(tenant=tenant, pipeline=first.pipeline)
    assert [(stage.pk, [deal.pk for deal in deals]) for stage, deals in board] == [
        (first.pk, []),
        (second.pk, [open_deal.pk]),
    ]


def test_a_pipeline_with_deals_or_the_default_one_cannot_be_deleted(tenant):
    deal = DealFactory(tenant=tenant)
    with pytest.raises(PipelineInUse):
        services_sales.pipeline_delete(pipeline=deal.stage.pipeline)
    with pytest.raises(PipelineInUse):
        services_sales.stage_delete(stage=deal.stage)
    default = services_sales.pipeline_default_get_or_create(tenant=tenant)
    with pytest.raises(DefaultPipelineRequired):
        services_sales.pipeline_delete(pipeline=default)
