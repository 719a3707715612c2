"""Failed and stranded inbound events are retried by a beat job, a bounded number of times."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from tenants.context import tenant_context
from whatsapp import inbound
from whatsapp.choices import InboundEventStatus
from whatsapp.tests.factories import InboundEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    """Event ids handed to the processing task (recorded instead of processed)."""
    calls = []
    monkeypatch.setattr(inbound, "_enqueue", lambda *, event_id, tenant_id: calls.append((event_id, tenant_id)))
    return calls


def test_due_events_are_failed_ones_with_attempts_left_and_stranded_pending_ones(tenant, enqueued):
    now = timezone.now()
    retry = InboundEventFactory(tenant=tenant, status=InboundEventStatus.FAILED, attempts=2)
    InboundEventFactory(tenant=tenant, status=InboundEventStatus.FAILED, attempts=inbound.INBOUND_MAX_ATTEMPTS)
    stranded = InboundEventFactory(
        tenant=tenant, status=InboundEventStatus.PENDING, received_at=now - timedelta(minutes=6)
    )
    InboundEventFactory(tenant=tenant, status=InboundEventStatus.PENDING, received_at=now - timedelta(minutes=1))
    InboundEventFactory(tenant=tenant, status=InboundEventStatus.PROCESSED, received_at=now - timedelta(hours=1))
    with tenant_context(tenant):
        assert inbound.inbound_events_retry_due(now=now) == 2
    assert sorted(enqueued) == sorted([(retry.pk, tenant.pk), (stranded.pk, tenant.pk)])


def test_the_beat_job_fans_out_only_to_tenants_with_events_due(tenant, other_tenant, enqueued):
    InboundEventFactory(tenant=tenant, status=InboundEventStatus.FAILED, attempts=1)
    InboundEventFactory(tenant=other_tenant, status=InboundEventStatus.PROCESSED)
    from whatsapp.tasks import retry_inbound_events_all_task

    assert retry_inbound_events_all_task.apply().get() == 1
    assert [tenant_id for _event, tenant_id in enqueued] == [tenant.pk]


def test_the_retry_job_is_scheduled_every_five_minutes():
    task = PeriodicTask.objects.get(task="whatsapp.retry_inbound_events_all")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 5, "minutes")


def test_a_deactivated_tenants_events_wait_for_it(tenant, enqueued):
    InboundEventFactory(tenant=tenant, status=InboundEventStatus.FAILED, attempts=1)
    tenant.is_active = False
    tenant.save(update_fields=["is_active"])
    assert inbound.tenant_ids_with_events_due() == []
