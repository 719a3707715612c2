"""Sending campaigns against the fake Graph and Evolution APIs: each recipient once, at the
connection's pace across several workers, inside the window, stopping within seconds, resuming
after a killed worker without sending anyone twice; statuses, replies and stop words coming back
through the real webhook path."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from campaigns import dispatch, services
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from campaigns.selectors import campaign_stats
from campaigns.tasks import dispatch_due
from campaigns.tests.factories import CampaignFactory, CampaignRecipientFactory
from campaigns.throttle import ConnectionThrottle, Pace
from crm.models import Contact
from crm.tests.factories import ContactFactory
from tenants.context import tenant_context
from tenants.hours import DAYS
from whatsapp.management.commands.simulate_inbound import cloud_message_body

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fast_control(settings):
    settings.CAMPAIGN_CONTROL_INTERVAL_SECONDS = 0.2


def _running(tenant, template, contacts, **fields) -> Campaign:
    """A campaign already running (scheduled through the service, so recipients are materialized),
    with Celery tasks going to the broker — the test drives the workers itself."""
    params = fields.pop("template_params", {"body": {"1": "{{first_name}}", "2": "{{city}}"}})
    with tenant_context(tenant):
        campaign = services.campaign_create(
            tenant=tenant,
            actor=None,
            name="Ofertas",
            connection=template.connection if template else fields.pop("connection"),
            template=template,
            template_params=params if template else {},
            contacts=contacts,
            **fields,
        )
        services.campaign_schedule(campaign=campaign)
        return Campaign.objects.get(pk=campaign.pk)


def _contacts(tenant, n: int, start: int = 0) -> list[Contact]:
    return [
        ContactFactory(
            tenant=tenant,
            name=f"Pessoa {i}",
            phone=f"5511{900000000 + i}",
            wa_id=f"5511{900000000 + i}",
            custom_fields={"city": "Santos"},
        )
        for i in range(start, start + n)
    ]


def _dispatch(tenant, campaign, **kwargs):
    with tenant_context(tenant):
        return dispatch.campaign_dispatch(campaign_id=campaign.pk, **kwargs)


def _in_thread(tenant, campaign, results, **kwargs):
    def run():
        try:
            results.append(_dispatch(tenant, campaign, **kwargs))
        finally:
            db_connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _rows(tenant, campaign):
    with tenant_context(tenant):
        return list(CampaignRecipient.objects.filter(campaign=campaign).order_by("id"))


def _sent_to(fake_graph) -> list[str]:
    return [r.json()["to"] for r in fake_graph.requests_to("POST", fake_graph.messages_path)]


def _status(tenant, campaign) -> str:
    with tenant_context(tenant):
        return Campaign.objects.get(pk=campaign.pk).status


# --- one run ---------------------------------------------------------------------------------


def test_each_recipient_gets_the_template_with_its_values_once(
    tenant, template, city_field, fake_graph, no_eager, published
):
    contacts = _contacts(tenant, 3)
    campaign = _running(tenant, template, contacts, rate_per_second=200)
    result = _dispatch(tenant, campaign)

    assert (result.outcome, result.sent, result.failed) == ("done", 3, 0)
    bodies = [r.json() for r in fake_graph.requests_to("POST", fake_graph.messages_path)]
    assert [b["to"] for b in bodies] == [c.wa_id for c in contacts]
    assert bodies[0]["template"] == {
        "name": template.name,
        "language": {"code": "pt_BR"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Pessoa"}, {"type": "text", "text": "Santos"}]}
        ],
    }
    rows = _rows(tenant, campaign)
    assert {r.status for r in rows} == {RecipientStatus.SENT}
    assert all(r.provider_message_id.startswith("wamid.") and r.sent_at for r in rows)
    assert _status(tenant, campaign) == CampaignStatus.COMPLETED
    assert ("campaign.updated", CampaignStatus.COMPLETED) in [(t, d["status"]) for _, t, d in published]
    # A second worker finds nothing to do, and sends nothing.
    assert _dispatch(tenant, campaign).outcome == "stopped"
    assert len(_sent_to(fake_graph)) == 3


def test_a_contact_who_opted_out_after_scheduling_is_not_sent(tenant, template, city_field, fake_graph, no_eager):
    contacts = _contacts(tenant, 2)
    campaign = _running(tenant, template, contacts, rate_per_second=200)
    Contact.all_tenants.filter(pk=contacts[0].pk).update(opted_out=True)
    _dispatch(tenant, campaign)
    rows = {r.contact_id: r for r in _rows(tenant, campaign)}
    assert (rows[contacts[0].pk].status, rows[contacts[0].pk].error_code) == (RecipientStatus.FAILED, "opted_out")
    assert _sent_to(fake_graph) == [contacts[1].wa_id]


def test_a_permanent_provider_error_fails_that_recipient_only(tenant, template, city_field, fake_graph, no_eager):
    contacts = _contacts(tenant, 2)
    campaign = _running(tenant, template, contacts, rate_per_second=200)
    fake_graph.fail(132001, "Template name does not exist in the translation")
    _dispatch(tenant, campaign)
    first, second = _rows(tenant, campaign)
    assert (first.status, first.error_code) == (RecipientStatus.FAILED, "132001")
    assert first.error_reason
    assert second.status == RecipientStatus.SENT


def test_evolution_sends_a_random_variation_with_media_and_rests_every_n(
    tenant, evolution_connection, fake_evolution, no_eager
):
    contacts = _contacts(tenant, 5)
    variations = ["Oi {{first_name}}, novidade!", "Olá {{first_name}}, veja isto"]
    campaign = _running(
        tenant,
        None,
        contacts,
        connection=evolution_connection,
        text_variations=variations,
        media_url="https://example.com/oferta.jpg",
        media_type="image",
        delay_min_ms=10,
        delay_max_ms=30,
        pause_every=2,
        pause_seconds=1,
    )
    started = time.monotonic()
    assert _dispatch(tenant, campaign).sent == 5
    elapsed = time.monotonic() - started
    sends = fake_evolution.requests_to("POST", "/message/sendMedia/loja-centro")
    assert len(sends) == 5
    for request, contact in zip(sends, contacts, strict=True):
        body = request.json()
        first = contact.name.split()[0]
        assert body["caption"] in {v.replace("{{first_name}}", first) for v in variations}
        assert body["media"] == "https://example.com/oferta.jpg"
    assert elapsed >= 2.0  # two rests of 1 s (after the 2nd and the 4th message)


# --- pace ------------------------------------------------------------------------------------


def test_throttle_books_slots_one_interval_apart():
    throttle = ConnectionThrottle(999, Pace.per_second(10))
    waits = [throttle.reserve() for _ in range(5)]
    assert waits[0] == 0
    for index, wait in enumerate(waits[1:], start=1):
        assert wait == pytest.approx(index * 0.1, abs=0.02)


@pytest.mark.django_db(transaction=True)
def test_rate_is_held_within_10_percent_by_several_workers(
    tenant, template, city_field, fake_graph, no_eager, settings
):
    settings.CAMPAIGN_DISPATCH_WORKERS = 4
    # 20/s: what the limiter must hold, far below what four workers can do even on a busy machine.
    contacts = _contacts(tenant, 120)
    campaign = _running(tenant, template, contacts, rate_per_second=20)
    results: list = []
    threads = [_in_thread(tenant, campaign, results) for _ in range(4)]
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r.outcome for r in results) == ["done"] * 4
    assert sum(r.sent for r in results) == 120
    assert min(r.sent for r in results) > 0  # every worker took part
    sent_at = sorted(r.sent_at for r in _rows(tenant, campaign))
    rate = (len(sent_at) - 1) / (sent_at[-1] - sent_at[0]).total_seconds()
    assert 18 <= rate <= 22, rate
    to = _sent_to(fake_graph)
    assert len(to) == len(set(to)) == 120


# --- window, pause, resume, cancel -----------------------------------------------------------


def test_outside_the_window_nothing_is_sent_until_it_opens(tenant, template, city_field, fake_graph, no_eager):
    tomorrow = DAYS[(timezone.now().astimezone(UTC).weekday() + 2) % 7]
    window = {tomorrow: [["08:00", "20:00"]]}
    campaign = _running(tenant, template, _contacts(tenant, 2), rate_per_second=200, send_window=window)
    assert _dispatch(tenant, campaign).outcome == "window"
    assert _sent_to(fake_graph) == []
    with tenant_context(tenant):
        campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.next_run_at == services.window_next_open(window, tenant.timezone, timezone.now())
    assert campaign.next_run_at > timezone.now() + timedelta(hours=24)
    # The beat job leaves it alone until then, and restarts it once the time comes.
    assert dispatch_due() == 0
    Campaign.all_tenants.filter(pk=campaign.pk).update(next_run_at=timezone.now() - timedelta(seconds=1))
    assert dispatch_due() == 1


@pytest.mark.django_db(transaction=True)
def test_pause_resume_and_cancel_take_effect_within_a_second(tenant, template, city_field, fake_graph, no_eager):
    campaign = _running(tenant, template, _contacts(tenant, 60), rate_per_second=20)
    results: list = []
    thread = _in_thread(tenant, campaign, results)
    time.sleep(1.0)
    with tenant_context(tenant):
        services.campaign_pause(campaign=campaign)
    paused_at = time.monotonic()
    thread.join(timeout=5)
    assert time.monotonic() - paused_at < 1.0
    assert results[0].outcome == "stopped"
    sent_when_paused = len(_sent_to(fake_graph))
    assert 10 <= sent_when_paused <= 35
    rows = _rows(tenant, campaign)
    assert not [r for r in rows if r.status == RecipientStatus.SENDING]  # claimed rows handed back
    time.sleep(0.5)
    assert len(_sent_to(fake_graph)) == sent_when_paused

    with tenant_context(tenant):
        services.campaign_resume(campaign=campaign)
    results.clear()
    thread = _in_thread(tenant, campaign, results)
    time.sleep(0.8)
    with tenant_context(tenant):
        services.campaign_cancel(campaign=campaign)
    cancelled_at = time.monotonic()
    thread.join(timeout=5)
    assert time.monotonic() - cancelled_at < 1.0
    total = len(_sent_to(fake_graph))
    assert sent_when_paused < total < 60
    rows = _rows(tenant, campaign)
    assert sum(r.status == RecipientStatus.SENT for r in rows) == total == len(set(_sent_to(fake_graph)))
    assert sum(r.status == RecipientStatus.PENDING for r in rows) == 60 - total
    assert _status(tenant, campaign) == CampaignStatus.CANCELLED


# --- crashes ---------------------------------------------------------------------------------


def test_stale_sending_rows_are_settled_never_resent(tenant, template, city_field, fake_graph, no_eager):
    campaign = _running(tenant, template, _contacts(tenant, 4), rate_per_second=200)
    in_flight, recorded, claimed_only, untouched = _rows(tenant, campaign)
    long_ago = timezone.now() - timedelta(minutes=10)
    stale = CampaignRecipient.all_tenants.filter(status="pending")
    stale.filter(pk=in_flight.pk).update(status="sending", claimed_at=long_ago, send_started_at=long_ago)
    stale.filter(pk=recorded.pk).update(
        status="sending", claimed_at=long_ago, send_started_at=long_ago, provider_message_id="wamid.before-crash"
    )
    stale.filter(pk=claimed_only.pk).update(status="sending", claimed_at=long_ago)
    _dispatch(tenant, campaign)
    in_flight, recorded, claimed_only, untouched = _rows(tenant, campaign)
    # The call may have reached WhatsApp: never again.
    assert (in_flight.status, in_flight.error_code) == (RecipientStatus.FAILED, "interrupted")
    assert (recorded.status, recorded.provider_message_id) == (RecipientStatus.SENT, "wamid.before-crash")
    # Claimed by the dead worker but never attempted: sent now, once.
    assert claimed_only.status == untouched.status == RecipientStatus.SENT
    assert sorted(_sent_to(fake_graph)) == sorted([claimed_only.to, untouched.to])


WORKER = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from campaigns.dispatch import campaign_dispatch
from tenants.context import tenant_context
from tenants.models import Tenant
with tenant_context(Tenant.objects.get(pk=int(sys.argv[1]))):
    campaign_dispatch(campaign_id=int(sys.argv[2]), budget_seconds=120)
"""


def worker_env() -> dict:
    """The environment of a worker process that uses this test's database and Redis."""
    db = db_connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
    }


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_resumed_without_sending_anyone_twice(
    tenant, template, city_field, fake_graph, no_eager, settings
):
    campaign = _running(tenant, template, _contacts(tenant, 80), rate_per_second=40)
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(tenant.pk), str(campaign.pk)], cwd=ROOT, env=worker_env()
    )
    deadline = time.monotonic() + 30
    while len(_sent_to(fake_graph)) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    sent_by_killed = len(_sent_to(fake_graph))
    assert 20 <= sent_by_killed < 80

    # Its rows left `sending` count as stale at once here (in production after 2 minutes).
    settings.CAMPAIGN_SENDING_STALE_SECONDS = 0
    result = _dispatch(tenant, campaign)
    assert result.outcome == "done"
    to = _sent_to(fake_graph)
    assert len(to) == len(set(to)), "someone got the campaign twice"
    rows = _rows(tenant, campaign)
    interrupted = [r for r in rows if r.error_code == "interrupted"]
    assert len(interrupted) <= 1  # at most the one in flight when the worker died
    assert sum(r.status == RecipientStatus.SENT for r in rows) + len(interrupted) == 80
    assert set(to) >= {r.to for r in rows if r.status == RecipientStatus.SENT}
    assert _status(tenant, campaign) == CampaignStatus.COMPLETED


# --- what comes back -------------------------------------------------------------------------


def _status_body(connection, wamid: str, status: str, to: str, **extra) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511930001234", "phone_number_id": connection.phone_number_id},
        "statuses": [{"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": to, **extra}],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def test_statuses_replies_and_a_stop_word_come_back_through_the_webhook(
    tenant, template, city_field, fake_graph, deliver
):
    contacts = _contacts(tenant, 3)
    campaign = _running(tenant, template, contacts, rate_per_second=200)
    _dispatch(tenant, campaign)
    first, second, third = _rows(tenant, campaign)
    connection = template.connection

    deliver(connection, _status_body(connection, first.provider_message_id, "read", first.to))
    deliver(
        connection, _status_body(connection, first.provider_message_id, "delivered", first.to)
    )  # late: no step back
    deliver(connection, _status_body(connection, second.provider_message_id, "delivered", second.to))
    deliver(
        connection,
        _status_body(
            connection,
            third.provider_message_id,
            "failed",
            third.to,
            errors=[{"code": 131026, "title": "Message undeliverable"}],
        ),
    )
    first, second, third = _rows(tenant, campaign)
    assert (first.status, bool(first.delivered_at), bool(first.read_at)) == (RecipientStatus.READ, True, True)
    assert second.status == RecipientStatus.DELIVERED
    assert (third.status, third.error_code) == (RecipientStatus.FAILED, "131026")

    before = len(_sent_to(fake_graph))
    reply = {"type": "text", "text": {"body": "Quero saber mais"}}
    deliver(connection, cloud_message_body(connection=connection, wa_id=second.to, name="Pessoa 1", message=reply))
    stop = {"type": "text", "text": {"body": "Sair"}}
    deliver(connection, cloud_message_body(connection=connection, wa_id=first.to, name="Pessoa 0", message=stop))
    first, second, _third = _rows(tenant, campaign)
    assert (second.status, bool(second.replied_at), second.opted_out_at) == (RecipientStatus.REPLIED, True, None)
    assert (first.status, bool(first.opted_out_at)) == (RecipientStatus.REPLIED, True)
    assert Contact.all_tenants.get(pk=first.contact_id).opted_out is True
    assert Contact.all_tenants.get(pk=second.contact_id).opted_out is False
    confirmations = [r.json() for r in fake_graph.requests_to("POST", fake_graph.messages_path)][before:]
    assert [(c["to"], c["text"]["body"]) for c in confirmations if c.get("type") == "text"] == [
        (
            first.to,  # in the tenant's language (pt-BR by default)
            "Pronto: você não vai mais receber nossas mensagens de campanha. "
            "Você ainda pode falar com a gente por aqui.",
        )
    ]
    with tenant_context(tenant):
        stats = campaign_stats(campaign=Campaign.objects.get(pk=campaign.pk), bucket="minute")
    assert stats["counts"]["replied"] == 2 and stats["counts"]["failed"] == 1 and stats["counts"]["opted_out"] == 1
    assert stats["reached"] == {"sent": 3, "delivered": 2, "read": 1, "replied": 2, "failed": 1}
    assert stats["rates"]["replied"] == pytest.approx(0.6667, abs=1e-4)
    assert sum(point["sent"] for point in stats["timeline"]) == 3


def test_a_stop_word_from_someone_outside_any_campaign_still_opts_out(tenant, cloud_connection, fake_graph, deliver):
    stop = {"type": "text", "text": {"body": "PARAR"}}
    deliver(
        cloud_connection,
        cloud_message_body(connection=cloud_connection, wa_id="5511987650009", name="Ana", message=stop),
    )
    assert Contact.all_tenants.get(wa_id="5511987650009").opted_out is True
    assert len(_sent_to(fake_graph)) == 1  # only the confirmation: no greeting, no menu


def test_beat_starts_due_scheduled_campaigns(tenant, template, city_field, no_eager):
    with tenant_context(tenant):
        campaign = services.campaign_create(
            tenant=tenant,
            actor=None,
            name="Depois",
            connection=template.connection,
            template=template,
            template_params={"body": {"1": "{{first_name}}", "2": "{{city}}"}},
            contacts=_contacts(tenant, 1),
        )
        services.campaign_schedule(campaign=campaign, at=timezone.now() + timedelta(minutes=5))
    assert dispatch_due() == 0
    Campaign.all_tenants.filter(pk=campaign.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    assert dispatch_due() == 1


def test_factories_build_rows_of_their_tenant(tenant):
    recipient = CampaignRecipientFactory(tenant=tenant)
    assert recipient.campaign.tenant_id == recipient.contact.tenant_id == tenant.pk
    assert CampaignFactory(tenant=tenant).connection.tenant_id == tenant.pk


def test_a_row_taken_back_from_a_slow_worker_is_not_sent_by_it(tenant, template, city_field, fake_graph, no_eager):
    """A worker that stalls longer than the stale limit loses its claimed rows; when it wakes up it
    must not send them (whoever claimed them since does)."""
    import uuid

    from whatsapp.providers import get_adapter

    campaign = _running(tenant, template, _contacts(tenant, 2), rate_per_second=200)
    slow = uuid.uuid4()
    with tenant_context(tenant):
        ids = dispatch._claim(campaign.pk, 2, slow)
        CampaignRecipient.objects.filter(pk__in=ids).update(claimed_at=timezone.now() - timedelta(minutes=10))
        assert dispatch.recipients_recover_stale(campaign=campaign) == 2
        rows = list(CampaignRecipient.objects.select_related("contact").filter(pk__in=ids))
        assert {r.status for r in rows} == {RecipientStatus.PENDING}
        adapter = get_adapter(campaign.connection)
        assert [dispatch.send_one(adapter, campaign, row, slow) for row in rows] == [False, False]
    assert _sent_to(fake_graph) == []
    _dispatch(tenant, campaign)
    assert sorted(_sent_to(fake_graph)) == sorted(r.to for r in rows)


@pytest.mark.django_db(transaction=True)
def test_replies_in_one_inbound_batch_are_marked_as_replies(tenant, template, city_field, fake_graph):
    """An inbound batch asks once whether campaigns went out lately (config.batch); replies of
    customers with open tickets, applied together, are still found and marked."""
    from tickets.models import Ticket
    from tickets.tests.factories import TicketFactory
    from whatsapp.inbound import inbound_events_process
    from whatsapp.tests.factories import InboundEventFactory

    contacts = _contacts(tenant, 2)
    campaign = _running(tenant, template, contacts, rate_per_second=200)
    _dispatch(tenant, campaign)
    connection = template.connection
    for contact in contacts:
        TicketFactory(tenant=tenant, connection=connection, contact=contact, status=Ticket.Status.OPEN)
    events = [
        InboundEventFactory(
            tenant=tenant,
            connection=connection,
            body=cloud_message_body(
                connection=connection, wa_id=row.to, name="Pessoa", message={"type": "text", "text": {"body": "Oi!"}}
            ),
        )
        for row in _rows(tenant, campaign)
    ]
    with tenant_context(tenant):
        results = inbound_events_process(event_ids=[event.pk for event in events])
    assert set(results.values()) == {"processed"}
    assert [row.status for row in _rows(tenant, campaign)] == [RecipientStatus.REPLIED] * 2
