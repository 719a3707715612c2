"""Summaries on close: the beat job fans out to the tenants that ask, each summarizes its closed tickets."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ai.models import AIUsage, TicketInsight
from ai.tasks import summarize_closed_tickets
from ai.tests.factories import AISettingsFactory, TicketInsightFactory
from tickets.models import Ticket
from tickets.tests.factories import MessageFactory, TicketFactory

pytestmark = pytest.mark.django_db


def _closed(tenant, *, hours_ago: float = 1, text: str = "Resolvido, obrigado"):
    ticket = TicketFactory(
        tenant=tenant, status=Ticket.Status.CLOSED, closed_at=timezone.now() - timedelta(hours=hours_ago)
    )
    if text:
        MessageFactory(tenant=tenant, ticket=ticket, text=text)
    return ticket


def test_closed_tickets_are_summarized_when_the_tenant_asks(tenant, other_tenant, ai_settings, fake_openai):
    type(ai_settings).all_tenants.filter(pk=ai_settings.pk).update(summarize_on_close=True)
    AISettingsFactory(tenant=other_tenant, summarize_on_close=False)  # does not ask: untouched
    recent = _closed(tenant)
    already = _closed(tenant)
    TicketInsightFactory(tenant=tenant, ticket=already, summary="- done", summarized_at=timezone.now())
    stale = _closed(tenant)  # summarized while open, closed afterwards: summarized again
    TicketInsightFactory(tenant=tenant, ticket=stale, summary="- old", summarized_at=timezone.now() - timedelta(days=1))
    _closed(tenant, hours_ago=30)  # closed too long ago
    _closed(tenant, text="")  # nothing to summarize
    TicketFactory(tenant=tenant, status=Ticket.Status.OPEN)
    _closed(other_tenant)
    fake_openai.reply("- summary one")
    fake_openai.reply("- summary two")

    assert summarize_closed_tickets() == 1
    summaries = dict(TicketInsight.all_tenants.values_list("ticket_id", "summary"))
    assert summaries[recent.pk] == "- summary one"
    assert summaries[stale.pk] == "- summary two"
    assert summaries[already.pk] == "- done"
    assert len(fake_openai.chat_requests()) == 2
    assert set(AIUsage.all_tenants.values_list("tenant_id", "user_id", "feature")) == {(tenant.pk, None, "summarize")}


def test_the_job_stops_at_the_monthly_cap(tenant, ai_settings, fake_openai):
    type(ai_settings).all_tenants.filter(pk=ai_settings.pk).update(summarize_on_close=True)
    tenant.max_ai_requests_per_month = 1
    tenant.save()
    for _ in range(3):
        _closed(tenant)
    summarize_closed_tickets()
    assert TicketInsight.all_tenants.count() == 1
    assert len(fake_openai.chat_requests()) == 1


def test_the_beat_schedule_is_registered():
    from django_celery_beat.models import PeriodicTask

    schedule = PeriodicTask.objects.get(task="ai.summarize_closed_tickets")
    assert (schedule.interval.every, schedule.interval.period, schedule.enabled) == (5, "minutes", True)
