"""Tenant-owned managers fail closed, scope every read to the current tenant, and refuse writes
into another tenant. Membership and Invite stand in for every tenant-owned model."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Invite, Membership, Role
from accounts.tests.factories import InviteFactory, MembershipFactory, UserFactory
from tenants.context import get_current_tenant, tenant_context
from tenants.exceptions import TenantContextMissing, TenantMismatch
from tenants.models import TenantManager, TenantOwned, UnscopedManager


@pytest.fixture
def rows(tenant, other_tenant):
    """Two memberships and one invite in A (`tenant`), one membership and two invites in B."""
    return {
        "a_members": [MembershipFactory(tenant=tenant), MembershipFactory(tenant=tenant)],
        "a_invites": [InviteFactory(tenant=tenant)],
        "b_members": [MembershipFactory(tenant=other_tenant)],
        "b_invites": [InviteFactory(tenant=other_tenant), InviteFactory(tenant=other_tenant)],
    }


def _pks(objs):
    return sorted(obj.pk for obj in objs)


@pytest.mark.parametrize("model", [Membership, Invite])
def test_managers_are_the_scoped_and_the_unscoped_one(model):
    assert issubclass(model, TenantOwned)
    assert type(model._default_manager) is TenantManager
    assert model._default_manager is model.objects
    assert type(model.all_tenants) is UnscopedManager


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda model, row: model.objects.all(), id="all"),
        pytest.param(lambda model, row: model.objects.filter(pk=row.pk), id="filter"),
        pytest.param(lambda model, row: model.objects.exclude(pk=row.pk), id="exclude"),
        pytest.param(lambda model, row: model.objects.get(pk=row.pk), id="get"),
        pytest.param(lambda model, row: model.objects.count(), id="count"),
        pytest.param(lambda model, row: model.objects.exists(), id="exists"),
        pytest.param(lambda model, row: model.objects.first(), id="first"),
        pytest.param(lambda model, row: model.objects.values_list("pk"), id="values_list"),
        pytest.param(lambda model, row: model.objects.filter(pk=row.pk).update(created_at=timezone.now()), id="update"),
        pytest.param(lambda model, row: model.objects.filter(pk=row.pk).delete(), id="delete"),
    ],
)
@pytest.mark.parametrize("model", [Membership, Invite])
def test_without_tenant_every_manager_call_raises(rows, model, operation):
    row = rows["a_members"][0] if model is Membership else rows["a_invites"][0]
    before = model.all_tenants.count()
    with pytest.raises(TenantContextMissing):
        operation(model, row)
    assert model.all_tenants.count() == before
    assert model.all_tenants.get(pk=row.pk).created_at == row.created_at


def test_without_tenant_create_raises_and_writes_nothing(tenant):
    user = UserFactory()
    with pytest.raises(TenantContextMissing):
        Membership.objects.create(user=user, role=Role.AGENT)
    with pytest.raises(TenantContextMissing):
        Membership.objects.create(tenant=tenant, user=user, role=Role.AGENT)
    with pytest.raises(TenantContextMissing):
        Invite.objects.get_or_create(email="x@example.com", defaults={"expires_at": timezone.now()})
    assert Membership.all_tenants.count() == 0
    assert Invite.all_tenants.count() == 0


def test_without_tenant_reverse_relations_raise(rows):
    user = rows["a_members"][0].user
    with pytest.raises(TenantContextMissing):
        list(user.memberships.all())


def test_save_without_tenant_and_without_context_raises(db):
    membership = Membership(user=UserFactory(), role=Role.AGENT)
    with pytest.raises(TenantContextMissing):
        membership.save()
    assert Membership.all_tenants.count() == 0


def test_context_scopes_reads_to_that_tenant(rows, tenant, other_tenant):
    with tenant_context(tenant):
        assert _pks(Membership.objects.all()) == _pks(rows["a_members"])
        assert _pks(Invite.objects.all()) == _pks(rows["a_invites"])
        assert Membership.objects.count() == 2
        assert Invite.objects.count() == 1
    with tenant_context(other_tenant):
        assert _pks(Membership.objects.all()) == _pks(rows["b_members"])
        assert _pks(Invite.objects.all()) == _pks(rows["b_invites"])


def test_another_tenants_row_is_not_found(rows, tenant):
    b_member = rows["b_members"][0]
    with tenant_context(tenant):
        with pytest.raises(Membership.DoesNotExist):
            Membership.objects.get(pk=b_member.pk)
        assert Membership.objects.filter(pk=b_member.pk).exists() is False
        # An explicit tenant filter cannot widen the scope either.
        assert Membership.objects.filter(tenant=b_member.tenant).count() == 0
        assert Membership.objects.filter(pk=b_member.pk).update(role=Role.ADMIN) == 0
        assert Membership.objects.filter(pk=b_member.pk).delete() == (0, {})
    assert Membership.all_tenants.get(pk=b_member.pk).role == Role.AGENT


def test_reverse_relations_are_scoped_too(tenant, other_tenant):
    user = UserFactory()
    a = MembershipFactory(tenant=tenant, user=user)
    b = MembershipFactory(tenant=other_tenant, user=user)
    with tenant_context(tenant):
        assert list(user.memberships.all()) == [a]
    with tenant_context(other_tenant):
        assert list(user.memberships.all()) == [b]


def test_all_tenants_spans_tenants(rows):
    assert _pks(Membership.all_tenants.all()) == _pks(rows["a_members"] + rows["b_members"])
    assert _pks(Invite.all_tenants.all()) == _pks(rows["a_invites"] + rows["b_invites"])
    with tenant_context(rows["a_members"][0].tenant):
        # Being inside a tenant does not narrow the explicit escape hatch.
        assert Membership.all_tenants.count() == 3


def test_save_without_tenant_fills_it_from_the_context(tenant):
    user = UserFactory()
    with tenant_context(tenant):
        membership = Membership(user=user, role=Role.SUPERVISOR)
        membership.save()
        invite = Invite.objects.create(email="new@example.com", token_hash="f" * 64, expires_at=timezone.now())
    assert Membership.all_tenants.get(pk=membership.pk).tenant_id == tenant.pk
    assert Invite.all_tenants.get(pk=invite.pk).tenant_id == tenant.pk


def test_saving_another_tenants_object_raises(rows, tenant):
    b_member = Membership.all_tenants.get(pk=rows["b_members"][0].pk)
    b_member.role = Role.ADMIN
    with tenant_context(tenant):
        with pytest.raises(TenantMismatch):
            b_member.save()
        with pytest.raises(TenantMismatch):
            b_member.save(update_fields=["role"])
    assert Membership.all_tenants.get(pk=b_member.pk).role == Role.AGENT


def test_creating_a_row_for_another_tenant_raises(tenant, other_tenant):
    user = UserFactory()
    with tenant_context(tenant):
        with pytest.raises(TenantMismatch):
            Membership(tenant=other_tenant, user=user).save()
        with pytest.raises(TenantMismatch):
            Membership.objects.create(tenant=other_tenant, user=user)
    assert Membership.all_tenants.count() == 0


def test_moving_a_row_to_another_tenant_raises(rows, tenant, other_tenant):
    a_member = Membership.all_tenants.get(pk=rows["a_members"][0].pk)
    with tenant_context(tenant):
        a_member.tenant = other_tenant
        with pytest.raises(TenantMismatch):
            a_member.save()
    assert Membership.all_tenants.get(pk=a_member.pk).tenant_id == tenant.pk


def test_deleting_another_tenants_object_raises(rows, tenant):
    b_invite = rows["b_invites"][0]
    with tenant_context(tenant):
        with pytest.raises(TenantMismatch):
            b_invite.delete()
    assert Invite.all_tenants.filter(pk=b_invite.pk).exists()


def test_deleting_own_object_works(rows, tenant):
    a_invite = rows["a_invites"][0]
    with tenant_context(tenant):
        a_invite.delete()
    assert Invite.all_tenants.filter(pk=a_invite.pk).exists() is False


def test_bulk_create_fills_the_tenant_and_refuses_another(tenant, other_tenant):
    expires = timezone.now() + timedelta(days=1)
    with tenant_context(tenant):
        created = Invite.objects.bulk_create(
            [
                Invite(email="one@example.com", token_hash="1" * 64, expires_at=expires),
                Invite(tenant=tenant, email="two@example.com", token_hash="2" * 64, expires_at=expires),
            ]
        )
        with pytest.raises(TenantMismatch):
            Invite.objects.bulk_create(
                [
                    Invite(email="three@example.com", token_hash="3" * 64, expires_at=expires),
                    Invite(tenant=other_tenant, email="four@example.com", token_hash="4" * 64, expires_at=expires),
                ]
            )
    assert sorted(Invite.all_tenants.values_list("email", "tenant_id")) == [
        ("one@example.com", tenant.pk),
        ("two@example.com", tenant.pk),
    ]
    assert len(created) == 2


def test_queryset_update_cannot_move_rows_to_another_tenant(rows, tenant, other_tenant):
    a_pks = _pks(rows["a_members"])
    with tenant_context(tenant):
        with pytest.raises(TenantMismatch):
            Membership.objects.all().update(tenant=other_tenant)
        with pytest.raises(TenantMismatch):
            Membership.objects.all().update(tenant_id=other_tenant.pk)
        members = list(Membership.objects.all())
        for member in members:
            member.tenant = other_tenant
        with pytest.raises(TenantMismatch):
            Membership.objects.bulk_update(members, ["tenant"])
        # The refusals left the surrounding transaction usable, and the same tenant is fine.
        assert Membership.objects.all().update(tenant=tenant, role=Role.SUPERVISOR) == 2
        for member in members:
            member.tenant, member.role = tenant, Role.ADMIN
        assert Membership.objects.bulk_update(members, ["tenant", "role"]) == 2
    assert sorted(Membership.all_tenants.filter(tenant=tenant).values_list("pk", flat=True)) == a_pks
    assert set(Membership.all_tenants.filter(tenant=tenant).values_list("role", flat=True)) == {Role.ADMIN}
    assert Membership.all_tenants.filter(tenant=other_tenant).count() == 1


def test_unscoped_writes_with_explicit_tenant_work_outside_any_context(tenant):
    """Platform code (factories, registration) writes with an explicit tenant and no context."""
    assert get_current_tenant() is None
    membership = Membership.all_tenants.create(tenant=tenant, user=UserFactory(), role=Role.ADMIN)
    membership.role = Role.AGENT
    membership.save()
    assert Membership.all_tenants.get(pk=membership.pk).role == Role.AGENT


def test_model_validation_outside_any_tenant_checks_within_the_rows_tenant(tenant, other_tenant):
    """Forms validate unique constraints through the default manager; the platform admin has no
    tenant in context, so validation enters the row's own tenant rather than failing closed."""
    from django.core.exceptions import ValidationError

    member = MembershipFactory(tenant=tenant)
    with pytest.raises(ValidationError) as duplicate:
        Membership(tenant=tenant, user=member.user, role=Role.AGENT).full_clean()
    assert duplicate.value.messages == ["Membership with this Tenant and User already exists."]
    Membership(tenant=other_tenant, user=member.user, role=Role.AGENT).full_clean()  # another tenant: fine
    assert get_current_tenant() is None


def test_none_needs_no_tenant_because_it_can_return_no_rows(db):
    from accounts.models import Membership

    assert list(Membership.objects.none()) == []
    with pytest.raises(TenantContextMissing):
        Membership.objects.all()


def test_each_call_gets_its_own_queryset_of_its_own_tenant(rows, tenant, other_tenant):
    """The tenant filter is built once per model and tenant and cloned (tenants.models.TenantManager):
    nothing one caller does to its queryset reaches the next."""
    user = rows["a_members"][0].user
    with tenant_context(tenant):
        first = Membership.objects.all()
        assert _pks(first) == _pks(rows["a_members"])  # evaluated
        second = Membership.objects.filter(role=Role.AGENT)
        assert second is not first and second._result_cache is None and second.query is not first.query
        combined = Membership.objects.filter(pk=0) | user.memberships.all()  # merges known related objects
        assert _pks(combined) == [rows["a_members"][0].pk]
        assert Membership.objects.all()._known_related_objects == {}
        assert _pks(Membership.objects.all()) == _pks(rows["a_members"])
    with tenant_context(other_tenant):
        assert _pks(Membership.objects.all()) == _pks(rows["b_members"])
