import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Invite, Role
from tenants.context import get_current_tenant, tenant_context


def test_tenant_command_works_inside_the_named_tenant_and_leaves_no_context(tenant, other_tenant):
    out = io.StringIO()
    call_command(
        "invite_member", "--tenant", tenant.slug, "--email", "new@example.com", "--role", "supervisor", stdout=out
    )
    assert get_current_tenant() is None
    invite = Invite.all_tenants.get(email="new@example.com")
    assert (invite.tenant_id, invite.role) == (tenant.pk, Role.SUPERVISOR)
    assert "Acceptance link (shown once): http" in out.getvalue()
    with tenant_context(other_tenant):
        assert not Invite.objects.exists()


def test_tenant_command_refuses_an_unknown_or_inactive_tenant(tenant):
    tenant.is_active = False
    tenant.save(update_fields=["is_active"])
    for slug in ("no-such-tenant", tenant.slug):
        with pytest.raises(CommandError, match="No active tenant"):
            call_command("invite_member", "--tenant", slug, "--email", "x@example.com")
    assert not Invite.all_tenants.exists()


def test_tenant_command_requires_the_tenant_option(db):
    with pytest.raises(CommandError, match="--tenant"):
        call_command("invite_member", "--email", "x@example.com")


def test_domain_errors_become_command_errors_with_their_code(tenant):
    tenant.max_users = 0
    tenant.save(update_fields=["max_users"])
    with pytest.raises(CommandError, match="seat_limit_reached"):
        call_command("invite_member", "--tenant", tenant.slug, "--email", "x@example.com")
