"""TenantTask: tasks take `tenant_id`, refuse to be enqueued or run without it, run inside that
tenant and always leave it."""

import base64
import json

import pytest

from accounts.models import Membership
from accounts.tests.factories import MembershipFactory
from config.celery import tenant_task
from config.redis import get_redis
from tenants.context import get_current_tenant, tenant_context
from tenants.exceptions import TenantContextMissing
from tenants.tasks import TenantTask

SEEN: list = []


class ProbeFailed(Exception):
    pass


@tenant_task(name="tenants.tests.probe_tenant")
def probe_tenant(*, tenant_id, fail=False):
    current = get_current_tenant()
    SEEN.append(
        {
            "tenant_id": tenant_id,
            "current": current.pk if current else None,
            "members": sorted(Membership.objects.values_list("pk", flat=True)),
        }
    )
    if fail:
        raise ProbeFailed("task body failed")
    return current.pk


@pytest.fixture(autouse=True)
def _reset_seen():
    SEEN.clear()
    yield
    SEEN.clear()
    assert get_current_tenant() is None


def _queued_messages():
    """Messages waiting in the broker's default queue (Redis list `celery`)."""
    return [json.loads(raw) for raw in get_redis().lrange("celery", 0, -1)]


def test_tenant_task_uses_the_tenant_base():
    assert isinstance(probe_tenant, TenantTask)


@pytest.mark.parametrize(
    "enqueue",
    [
        pytest.param(lambda: probe_tenant.delay(), id="delay"),
        pytest.param(lambda: probe_tenant.delay(fail=False), id="delay-other-kwargs"),
        pytest.param(lambda: probe_tenant.apply_async(), id="apply_async"),
        pytest.param(lambda: probe_tenant.apply_async(kwargs={"tenant_id": None}), id="apply_async-none"),
        pytest.param(lambda: probe_tenant.apply_async(args=[1]), id="apply_async-positional"),
        pytest.param(lambda: probe_tenant.s().delay(), id="signature"),
    ],
)
def test_enqueueing_without_tenant_id_raises_and_publishes_nothing(db, enqueue):
    with pytest.raises(TenantContextMissing):
        enqueue()
    assert _queued_messages() == []
    assert SEEN == []


def test_enqueueing_inside_a_tenant_context_still_needs_tenant_id(tenant):
    """The context is not carried implicitly: the worker would not have it."""
    with tenant_context(tenant):
        with pytest.raises(TenantContextMissing):
            probe_tenant.delay()
    assert _queued_messages() == []


@pytest.fixture
def publish_to_broker():
    """Tests run tasks eagerly (conftest); this one looks at the message really published."""
    from config.celery import app

    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


def test_enqueueing_with_tenant_id_publishes_it_in_the_message(tenant, publish_to_broker):
    probe_tenant.delay(tenant_id=tenant.pk)
    messages = _queued_messages()
    assert len(messages) == 1
    assert messages[0]["headers"]["task"] == "tenants.tests.probe_tenant"
    args, kwargs, _embed = json.loads(base64.b64decode(messages[0]["body"]))
    assert (args, kwargs) == ([], {"tenant_id": tenant.pk})
    assert SEEN == []  # published, not run


def test_eager_run_sees_only_its_tenant(tenant, other_tenant):
    a_members = [MembershipFactory(tenant=tenant), MembershipFactory(tenant=tenant)]
    MembershipFactory(tenant=other_tenant)
    result = probe_tenant.apply(kwargs={"tenant_id": tenant.pk})
    assert result.successful()
    assert result.get() == tenant.pk
    assert SEEN == [{"tenant_id": tenant.pk, "current": tenant.pk, "members": sorted(m.pk for m in a_members)}]
    assert get_current_tenant() is None


def test_the_callers_context_is_restored_after_the_task(tenant, other_tenant):
    with tenant_context(other_tenant):
        result = probe_tenant.apply(kwargs={"tenant_id": tenant.pk})
        assert get_current_tenant() == other_tenant
    assert result.get() == tenant.pk
    assert SEEN[0]["current"] == tenant.pk


def test_the_context_is_restored_when_the_task_raises(tenant, other_tenant):
    with tenant_context(other_tenant):
        result = probe_tenant.apply(kwargs={"tenant_id": tenant.pk, "fail": True}, throw=False)
        assert get_current_tenant() == other_tenant
        assert result.failed()
        assert isinstance(result.result, ProbeFailed)
        with pytest.raises(ProbeFailed):
            probe_tenant.apply(kwargs={"tenant_id": tenant.pk, "fail": True}, throw=True)
        assert get_current_tenant() == other_tenant
    assert [entry["current"] for entry in SEEN] == [tenant.pk, tenant.pk]


def test_the_context_is_reset_after_a_direct_call(tenant):
    assert probe_tenant(tenant_id=tenant.pk) == tenant.pk
    assert get_current_tenant() is None
    with pytest.raises(ProbeFailed):
        probe_tenant(tenant_id=tenant.pk, fail=True)
    assert get_current_tenant() is None


def test_running_without_tenant_id_fails_before_the_body(tenant):
    with tenant_context(tenant):
        result = probe_tenant.apply(throw=False)
    assert result.failed()
    assert isinstance(result.result, TenantContextMissing)
    with pytest.raises(TenantContextMissing):
        probe_tenant()
    assert SEEN == []


def test_running_for_an_unknown_tenant_fails_before_the_body(db):
    from tenants.models import Tenant

    result = probe_tenant.apply(kwargs={"tenant_id": 987654321}, throw=False)
    assert result.failed()
    assert isinstance(result.result, Tenant.DoesNotExist)
    assert SEEN == []


def test_work_queued_for_a_deactivated_tenant_is_skipped_not_run(tenant):
    tenant.is_active = False
    tenant.save(update_fields=["is_active"])
    result = probe_tenant.apply(kwargs={"tenant_id": tenant.pk})
    assert result.successful()
    assert result.get() is None
    assert SEEN == []
