"""The deals board in a real browser: a card dragged to another column moves the deal (HTML5 drag
and drop, no reload), and a deal moved elsewhere shows up live."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from accounts.models import Role
from accounts.tests.factories import PASSWORD, MembershipFactory, UserFactory
from crm import services_sales
from crm.models import Deal, DealActivity
from crm.tests.factories import DealFactory, PipelineFactory, StageFactory
from tenants.context import tenant_context
from tenants.tests.factories import TenantFactory
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def board(transactional_db):
    tenant = TenantFactory(slug="loja-crm", name="Loja CRM", language="en")
    agent = MembershipFactory(
        tenant=tenant, role=Role.AGENT, user=UserFactory(name="Vera Vendas", email="vera@loja.example")
    ).user
    pipeline = PipelineFactory(tenant=tenant, name="Vendas", is_default=True)
    new = StageFactory(tenant=tenant, pipeline=pipeline, name="Lead", order=0)
    proposal = StageFactory(tenant=tenant, pipeline=pipeline, name="Proposta", order=1)
    closing = StageFactory(tenant=tenant, pipeline=pipeline, name="Fechamento", order=2)
    deal = DealFactory(tenant=tenant, stage=new, title="Franquia Campinas")
    return {"tenant": tenant, "agent": agent, "deal": deal, "proposal": proposal, "closing": closing}


def _in_thread(work, tenant):
    def run():
        try:
            with tenant_context(tenant):
                work()
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def _column(page, name):
    return page.locator(".crm-column", has=page.locator("h2", has_text=name))


def test_dragging_a_card_moves_the_deal_and_other_moves_show_live(board, server, new_page):
    page = new_page()
    log_in(page, "vera@loja.example", PASSWORD)
    page.goto(f"{server.url}/inbox/crm/")
    card = page.locator(".crm-card", has_text="Franquia Campinas")
    expect(card).to_be_visible()
    page.wait_for_timeout(300)  # the board's socket connects

    card.drag_to(_column(page, "Proposta"))
    expect(_column(page, "Proposta").locator(".crm-card", has_text="Franquia Campinas")).to_be_visible()
    deal = board["deal"]
    with tenant_context(board["tenant"]):
        for _ in range(50):
            deal.refresh_from_db()
            if deal.stage_id == board["proposal"].pk:
                break
            page.wait_for_timeout(100)
        assert deal.stage_id == board["proposal"].pk
        assert DealActivity.objects.get(deal=deal).actor_id == board["agent"].pk
    # Someone else moves it on: the board follows without a reload. (In a thread: the event is
    # published with async_to_sync, which cannot run inside Playwright's event loop.)
    _in_thread(
        lambda: services_sales.deal_move(deal=Deal.objects.get(pk=deal.pk), stage=board["closing"], actor=None),
        board["tenant"],
    )
    expect(_column(page, "Fechamento").locator(".crm-card", has_text="Franquia Campinas")).to_be_visible(timeout=10000)
