"""The current tenant: how it is entered, restored, isolated between threads and tasks, and reset
after every request."""

import asyncio
import contextvars
import threading

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.models import Membership
from tenants.context import get_current_tenant, require_current_tenant, tenant_context
from tenants.exceptions import TenantContextMissing
from tenants.middleware import TenantMiddleware
from tenants.models import Tenant
from tenants.selectors import SESSION_TENANT_KEY


@pytest.fixture(autouse=True)
def _starts_without_tenant():
    assert get_current_tenant() is None
    yield
    assert get_current_tenant() is None, "a test left a tenant in context"


# Context manipulation needs no rows: unsaved tenants with distinct primary keys are enough.
A = Tenant(pk=101, name="A", slug="a")
B = Tenant(pk=102, name="B", slug="b")


def test_no_tenant_by_default():
    assert get_current_tenant() is None
    with pytest.raises(TenantContextMissing):
        require_current_tenant()


def test_tenant_context_enters_and_leaves():
    with tenant_context(A) as entered:
        assert entered is A
        assert get_current_tenant() is A
        assert require_current_tenant() is A
    assert get_current_tenant() is None


def test_nested_contexts_restore_the_outer_one():
    with tenant_context(A):
        with tenant_context(B):
            assert get_current_tenant() is B
        assert get_current_tenant() is A
    assert get_current_tenant() is None


def test_nested_context_is_restored_after_an_exception():
    class Boom(Exception):
        pass

    with tenant_context(A):
        with pytest.raises(Boom):
            with tenant_context(B):
                raise Boom()
        assert get_current_tenant() is A
    assert get_current_tenant() is None


def test_tenant_context_none_blocks_tenant_owned_queries_inside_a_tenant():
    with tenant_context(A):
        with tenant_context(None):
            assert get_current_tenant() is None
            with pytest.raises(TenantContextMissing):
                Membership.objects.all()
        assert get_current_tenant() is A
        assert f'"tenant_id" = ({A.pk})::bigint' in str(Membership.objects.all().query)


def _in_thread(target):
    result = {}

    def run():
        try:
            result["value"] = target()
        except Exception as exc:  # reported back to the test thread
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    return result


def test_threads_do_not_inherit_the_tenant():
    with tenant_context(A):
        seen = _in_thread(get_current_tenant)
        blocked = _in_thread(Membership.objects.all)
    assert seen == {"value": None}
    assert isinstance(blocked["error"], TenantContextMissing)


def test_threads_see_the_tenant_only_when_the_context_is_copied():
    with tenant_context(A):
        context = contextvars.copy_context()
    # The copy carries A even though the caller has left A since.
    seen = _in_thread(lambda: context.run(get_current_tenant))
    sql = _in_thread(lambda: context.run(lambda: str(Membership.objects.all().query)))
    assert seen == {"value": A}
    assert f'"tenant_id" = ({A.pk})::bigint' in sql["value"]


def test_a_thread_entering_a_tenant_does_not_change_the_caller():
    def enter_b_and_stay():
        with tenant_context(B):
            return get_current_tenant()

    with tenant_context(A):
        assert _in_thread(enter_b_and_stay) == {"value": B}
        assert get_current_tenant() is A


def test_concurrent_asyncio_tasks_keep_their_own_tenant():
    seen = []

    async def work(tenant, entered: asyncio.Event, other_entered: asyncio.Event):
        with tenant_context(tenant):
            entered.set()
            # Both tasks are inside their own tenant at the same time from here on.
            await other_entered.wait()
            await asyncio.sleep(0)
            seen.append((tenant.slug, get_current_tenant().slug))
            await asyncio.sleep(0.01)
            seen.append((tenant.slug, get_current_tenant().slug))
        return get_current_tenant()

    async def main():
        a_in, b_in = asyncio.Event(), asyncio.Event()
        with tenant_context(A):
            left = await asyncio.gather(work(A, a_in, b_in), work(B, b_in, a_in))
            outer = get_current_tenant()
        return left, outer

    left, outer = async_to_sync(main)()
    assert sorted(seen) == [("a", "a"), ("a", "a"), ("b", "b"), ("b", "b")]
    assert left == [A, A]  # each task fell back to the context it was created in
    assert outer is A


def test_an_asyncio_task_entering_a_tenant_does_not_change_its_creator():
    async def enter_b():
        with tenant_context(B):
            await asyncio.sleep(0)
            return get_current_tenant()

    async def main():
        with tenant_context(A):
            inner = await asyncio.create_task(enter_b())
            return inner, get_current_tenant()

    assert async_to_sync(main)() == (B, A)


def test_sync_to_async_carries_the_tenant_into_the_sync_code():
    """Consumers reach the database through (database_)sync_to_async: the tenant must follow."""

    async def main():
        with tenant_context(A):
            return await sync_to_async(get_current_tenant)()

    assert async_to_sync(main)() is A


# --- TenantMiddleware ---------------------------------------------------------------


def _session_request(user, tenant=None):
    request = RequestFactory().get("/admin/")
    request.user = user
    request.session = SessionStore()
    if tenant is not None:
        request.session[SESSION_TENANT_KEY] = tenant.pk
    return request


def test_middleware_enters_the_session_tenant_and_resets_it(admin_user, tenant):
    seen = {}

    def view(request):
        seen["tenant"] = get_current_tenant()
        seen["request.tenant"] = request.tenant
        return HttpResponse("ok")

    response = TenantMiddleware(view)(_session_request(admin_user, tenant))
    assert response.status_code == 200
    assert seen == {"tenant": tenant, "request.tenant": tenant}
    assert get_current_tenant() is None


def test_middleware_resets_the_tenant_when_the_view_raises(admin_user, tenant):
    def view(request):
        assert get_current_tenant() == tenant
        raise RuntimeError("view failed")

    with pytest.raises(RuntimeError, match="view failed"):
        TenantMiddleware(view)(_session_request(admin_user, tenant))
    assert get_current_tenant() is None


def test_middleware_enters_no_tenant_for_a_user_without_membership(db, tenant):
    from accounts.tests.factories import UserFactory

    outsider = UserFactory()
    seen = {}

    def view(request):
        seen["tenant"] = get_current_tenant()
        return HttpResponse("ok")

    TenantMiddleware(view)(_session_request(outsider, tenant))
    assert seen == {"tenant": None}


def test_middleware_ignores_a_session_tenant_the_user_does_not_belong_to(admin_user, tenant, other_tenant):
    seen = {}

    def view(request):
        seen["tenant"] = get_current_tenant()
        return HttpResponse("ok")

    request = _session_request(admin_user, other_tenant)
    TenantMiddleware(view)(request)
    assert seen == {"tenant": tenant}
    assert request.session[SESSION_TENANT_KEY] == tenant.pk


def test_api_request_leaves_no_tenant_behind(admin_user, tenant, client_for):
    """JWT authentication enters the tenant inside DRF; the middleware still restores "none" after,
    in this very thread (the test client runs the request synchronously here)."""
    client = client_for(admin_user, tenant)
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 200
    assert response.json()["tenant"]["id"] == tenant.pk
    assert get_current_tenant() is None


def test_admin_request_leaves_no_tenant_behind(client, admin_user, tenant):
    client.force_login(admin_user)
    response = client.get("/admin/accounts/membership/")
    assert response.status_code == 200
    assert get_current_tenant() is None
