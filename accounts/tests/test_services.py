"""The account services called directly: the rules the API, the admin and the inbox share."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import selectors, services
from accounts.exceptions import (
    AlreadyMember,
    CannotChangeSelf,
    InvalidCredentials,
    LastAdmin,
    LoginThrottled,
    NoActiveMembership,
    RegistrationClosed,
    TenantRequired,
    TokenInvalid,
    TokenNoActiveMembership,
    TokenRevoked,
)
from accounts.models import Invite, Membership, Role, User
from accounts.tests.factories import InviteFactory, MembershipFactory, UserFactory
from tenants.context import tenant_context
from tenants.exceptions import PlanLimitReached, TenantMismatch
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Brand-New-Secret-77"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.LOGIN_THROTTLE_ATTEMPTS = 5
    settings.LOGIN_THROTTLE_WINDOW = 15 * 60
    settings.ALLOW_REGISTRATION = True


@pytest.fixture
def in_tenant(tenant):
    with tenant_context(tenant):
        yield tenant


@pytest.fixture
def superuser(db):
    return UserFactory(is_superuser=True)


def membership_of(user, tenant) -> Membership:
    return Membership.all_tenants.get(user=user, tenant=tenant)


# --- Tokens ------------------------------------------------------------------


def test_tokens_issue_binds_the_tenant_and_records_the_session_start(tenant, agent_user):
    before = services._epoch_us(timezone.now())

    pair = services.tokens_issue(user=agent_user, tenant=tenant)

    access, refresh = AccessToken(pair.access), RefreshToken(pair.refresh)
    assert access[services.TENANT_CLAIM] == refresh[services.TENANT_CLAIM] == tenant.pk
    assert access[services.AUTH_TIME_CLAIM] == refresh[services.AUTH_TIME_CLAIM]
    assert before <= refresh[services.AUTH_TIME_CLAIM] <= services._epoch_us(timezone.now())
    assert OutstandingToken.objects.filter(user=agent_user, jti=refresh["jti"]).exists()


def test_token_is_revoked_compares_to_the_microsecond(tenant, agent_user):
    old = AccessToken(services.tokens_issue(user=agent_user, tenant=tenant).access)
    assert services.token_is_revoked(user=agent_user, token=old) is False

    agent_user.tokens_valid_after = timezone.now()
    new = AccessToken(services.tokens_issue(user=agent_user, tenant=tenant).access)

    assert services.token_is_revoked(user=agent_user, token=old) is True
    assert services.token_is_revoked(user=agent_user, token=new) is False


def test_token_without_session_start_falls_back_on_iat_and_fails_closed(agent_user):
    token = AccessToken.for_user(agent_user)  # minted elsewhere: no microsecond claim
    agent_user.tokens_valid_after = timezone.now()

    token.set_iat(at_time=agent_user.tokens_valid_after)  # same second
    assert services.token_is_revoked(user=agent_user, token=token) is True
    token.set_iat(at_time=agent_user.tokens_valid_after + timedelta(seconds=1))
    assert services.token_is_revoked(user=agent_user, token=token) is False


def test_tokens_refresh_is_single_use_and_keeps_the_session(tenant, agent_user):
    pair = services.tokens_issue(user=agent_user, tenant=tenant)

    new = services.tokens_refresh(refresh_token=pair.refresh)

    assert (new.user, new.tenant) == (agent_user, tenant)
    new_refresh = RefreshToken(new.refresh)
    assert new_refresh["jti"] != RefreshToken(pair.refresh, verify=False)["jti"]
    assert new_refresh[services.AUTH_TIME_CLAIM] == RefreshToken(pair.refresh, verify=False)[services.AUTH_TIME_CLAIM]
    assert AccessToken(new.access)[services.TENANT_CLAIM] == tenant.pk
    # The new refresh token is known, so that revoking every session also reaches it.
    assert OutstandingToken.objects.filter(jti=new_refresh["jti"], user=agent_user).exists()
    with pytest.raises(TokenInvalid):
        services.tokens_refresh(refresh_token=pair.refresh)


def test_tokens_refresh_refuses_sessions_started_before_a_forced_logout(tenant, agent_user):
    """`tokens_valid_after` alone (no blacklist entry) is enough to end a session."""
    pair = services.tokens_issue(user=agent_user, tenant=tenant)
    User.objects.filter(pk=agent_user.pk).update(tokens_valid_after=timezone.now())

    with pytest.raises(TokenRevoked):
        services.tokens_refresh(refresh_token=pair.refresh)
    assert BlacklistedToken.objects.count() == 0


def test_tokens_refresh_refuses_a_deactivated_tenant(tenant, agent_user):
    pair = services.tokens_issue(user=agent_user, tenant=tenant)
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)

    with pytest.raises(TokenNoActiveMembership):
        services.tokens_refresh(refresh_token=pair.refresh)


def test_password_change_blacklists_every_outstanding_refresh_token(tenant, agent_user, password):
    for _ in range(3):
        services.tokens_issue(user=agent_user, tenant=tenant)
    expired = OutstandingToken.objects.create(
        user=agent_user, jti="expired", token="x", expires_at=timezone.now() - timedelta(days=1)
    )

    pair = services.password_change(
        user=agent_user, current_password=password, new_password=NEW_PASSWORD, tenant=tenant
    )

    new_jti = RefreshToken(pair.refresh)["jti"]
    blacklisted = set(BlacklistedToken.objects.values_list("token__jti", flat=True))
    live = set(OutstandingToken.objects.exclude(jti__in=[new_jti, expired.jti]).values_list("jti", flat=True))
    assert blacklisted == live
    assert len(live) == 3
    assert services.tokens_refresh(refresh_token=pair.refresh).user == agent_user


# --- Register and login ------------------------------------------------------


def test_register_closed(settings):
    settings.ALLOW_REGISTRATION = False

    with pytest.raises(RegistrationClosed):
        services.user_register(email="a@example.com", password=NEW_PASSWORD, name="A", tenant_name="A")
    assert User.objects.count() == 0


def test_login_failures_are_counted_in_redis_with_the_window(agent_user, settings):
    from config.redis import get_redis

    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            services.auth_login(email=agent_user.email, password="wrong", ip="10.1.1.1")

    key = services.login_failures(email=agent_user.email, ip="10.1.1.1").key
    assert int(get_redis().get(key)) == 2
    assert 0 < get_redis().ttl(key) <= settings.LOGIN_THROTTLE_WINDOW


def test_login_throttle_blocks_before_checking_the_password(agent_user, password):
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            services.auth_login(email=agent_user.email, password="wrong", ip="10.1.1.1")

    with pytest.raises(LoginThrottled) as excinfo:
        services.auth_login(email=agent_user.email, password=password, ip="10.1.1.1")
    assert 0 < excinfo.value.retry_after <= 15 * 60


def test_login_without_membership(agent_user, password):
    Membership.all_tenants.filter(user=agent_user).delete()

    with pytest.raises(NoActiveMembership):
        services.auth_login(email=agent_user.email, password=password, ip="10.1.1.1")


def test_login_tenant_required_lists_active_workspaces_only(tenant, other_tenant, agent_user, password):
    MembershipFactory(tenant=other_tenant, user=agent_user)
    third = MembershipFactory(tenant=Tenant.objects.create(name="Third", slug="third"), user=agent_user)

    with pytest.raises(TenantRequired) as excinfo:
        services.auth_login(email=agent_user.email, password=password, ip="10.1.1.1")
    assert excinfo.value.fields == {"tenant": ["shared", "other", "third"]}

    Tenant.objects.filter(pk=third.tenant_id).update(is_active=False)
    with pytest.raises(TenantRequired) as excinfo:
        services.auth_login(email=agent_user.email, password=password, ip="10.1.1.1")
    assert excinfo.value.fields == {"tenant": ["shared", "other"]}


# --- Memberships -------------------------------------------------------------


def test_last_admin_cannot_be_deactivated(in_tenant, admin_user, superuser):
    """Through the API an admin always acts on someone else, so another admin exists; the platform
    admin (a superuser without membership) can reach the last one."""
    with pytest.raises(LastAdmin):
        services.membership_deactivate(membership=membership_of(admin_user, in_tenant), actor=superuser)
    assert membership_of(admin_user, in_tenant).is_active is True


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.AGENT])
def test_last_admin_cannot_be_demoted(in_tenant, admin_user, superuser, role):
    with pytest.raises(LastAdmin):
        services.membership_set_role(membership=membership_of(admin_user, in_tenant), role=role, actor=superuser)
    assert membership_of(admin_user, in_tenant).role == Role.ADMIN


def test_an_inactive_admin_does_not_count_as_remaining(in_tenant, admin_user, superuser):
    MembershipFactory(tenant=in_tenant, role=Role.ADMIN, is_active=False)

    with pytest.raises(LastAdmin):
        services.membership_deactivate(membership=membership_of(admin_user, in_tenant), actor=superuser)


def test_admin_of_another_tenant_does_not_count_as_remaining(tenant, other_tenant, admin_user, superuser):
    MembershipFactory(tenant=other_tenant, role=Role.ADMIN)

    with tenant_context(tenant), pytest.raises(LastAdmin):
        services.membership_set_role(membership=membership_of(admin_user, tenant), role=Role.AGENT, actor=superuser)


def test_a_second_admin_can_go(in_tenant, admin_user, make_member, superuser):
    second = make_member(in_tenant, Role.ADMIN)

    services.membership_deactivate(membership=membership_of(second, in_tenant), actor=superuser)

    assert membership_of(second, in_tenant).is_active is False
    with pytest.raises(LastAdmin):
        services.membership_deactivate(membership=membership_of(admin_user, in_tenant), actor=superuser)


def test_deactivating_an_inactive_admin_is_allowed(in_tenant, admin_user, superuser):
    inactive = MembershipFactory(tenant=in_tenant, role=Role.ADMIN, is_active=False)

    assert services.membership_deactivate(membership=inactive, actor=superuser).is_active is False


def test_self_changes_are_refused(in_tenant, admin_user):
    membership = membership_of(admin_user, in_tenant)

    with pytest.raises(CannotChangeSelf):
        services.membership_deactivate(membership=membership, actor=admin_user)
    with pytest.raises(CannotChangeSelf):
        services.membership_set_role(membership=membership, role=Role.AGENT, actor=admin_user)
    membership.refresh_from_db()
    assert (membership.role, membership.is_active) == (Role.ADMIN, True)


def test_set_role_rejects_unknown_roles(in_tenant, agent_user, admin_user):
    with pytest.raises(ValueError):
        services.membership_set_role(membership=membership_of(agent_user, in_tenant), role="owner", actor=admin_user)


def test_promoting_needs_no_admin_check(in_tenant, agent_user, superuser):
    membership = services.membership_set_role(
        membership=membership_of(agent_user, in_tenant), role=Role.ADMIN, actor=superuser
    )

    assert membership.role == Role.ADMIN


def test_activate_checks_seats_on_a_fresh_tenant_row(in_tenant, admin_user, agent_user):
    membership = MembershipFactory(tenant=in_tenant, is_active=False)
    stale = in_tenant.max_users
    Tenant.objects.filter(pk=in_tenant.pk).update(max_users=2)  # changed after `in_tenant` was loaded
    assert in_tenant.max_users == stale

    with pytest.raises(PlanLimitReached) as excinfo:
        services.membership_activate(membership=membership, actor=admin_user)
    assert excinfo.value.code == "seat_limit_reached"
    membership.refresh_from_db()
    assert membership.is_active is False


def test_seat_counts(tenant, other_tenant, admin_user, agent_user):
    MembershipFactory(tenant=tenant, is_active=False)
    MembershipFactory(tenant=other_tenant)
    InviteFactory(tenant=tenant)
    InviteFactory(tenant=tenant, revoked_at=timezone.now())
    InviteFactory(tenant=tenant, accepted_at=timezone.now())
    InviteFactory(tenant=tenant, expires_at=timezone.now() - timedelta(seconds=1))
    InviteFactory(tenant=other_tenant)

    with tenant_context(tenant):
        assert selectors.active_seat_count(tenant=tenant) == 2
        assert selectors.pending_invite_count(tenant=tenant) == 1


# --- Admin-triggered password reset ------------------------------------------


def test_reset_link_is_returned_for_an_account_of_this_workspace_only(
    tenant, other_tenant, admin_user, make_member, mailoutbox, django_capture_on_commit_callbacks
):
    own = make_member(tenant)
    shared = make_member(tenant)
    MembershipFactory(tenant=other_tenant, user=shared, is_active=False)
    in_tenant = tenant

    with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
        own_link = services.membership_password_reset(membership=membership_of(own, in_tenant), actor=admin_user)
        shared_link = services.membership_password_reset(membership=membership_of(shared, in_tenant), actor=admin_user)
        self_link = services.membership_password_reset(
            membership=membership_of(admin_user, in_tenant), actor=admin_user
        )

    assert own_link is not None and "/reset-password/" in own_link
    assert shared_link is None
    assert self_link is not None
    assert [message.to for message in mailoutbox] == [[own.email], [shared.email], [admin_user.email]]


# --- Invites -----------------------------------------------------------------


def test_invite_create_replaces_the_pending_invite_of_the_same_address(in_tenant, admin_user):
    expired = InviteFactory(tenant=in_tenant, email="same@example.com", expires_at=timezone.now() - timedelta(days=1))
    first, _token = services.invite_create(
        tenant=in_tenant, email="same@example.com", role=Role.AGENT, invited_by=admin_user
    )
    other, _token = services.invite_create(
        tenant=in_tenant, email="other@example.com", role=Role.AGENT, invited_by=admin_user
    )

    second, _token = services.invite_create(
        tenant=in_tenant, email="Same@Example.com", role=Role.ADMIN, invited_by=admin_user
    )

    statuses = {invite.pk: invite.status for invite in Invite.all_tenants.all()}
    assert statuses == {
        expired.pk: Invite.Status.EXPIRED,
        first.pk: Invite.Status.REVOKED,
        other.pk: Invite.Status.PENDING,
        second.pk: Invite.Status.PENDING,
    }
    assert selectors.pending_invite_count(tenant=in_tenant) == 2


def test_invite_create_keeps_invites_of_other_tenants(tenant, other_tenant, admin_user):
    theirs = InviteFactory(tenant=other_tenant, email="same@example.com")

    with tenant_context(tenant):
        services.invite_create(tenant=tenant, email="same@example.com", role=Role.AGENT, invited_by=admin_user)

    theirs.refresh_from_db()
    assert theirs.status == Invite.Status.PENDING


def test_invite_create_refuses_an_active_member_and_writes_nothing(in_tenant, admin_user, agent_user):
    pending = InviteFactory(tenant=in_tenant, email=agent_user.email)

    with pytest.raises(AlreadyMember):
        services.invite_create(tenant=in_tenant, email=agent_user.email, role=Role.AGENT, invited_by=admin_user)

    pending.refresh_from_db()
    assert pending.status == Invite.Status.PENDING
    assert Invite.all_tenants.count() == 1


def test_invite_create_refuses_to_write_into_another_tenant(tenant, other_tenant):
    with tenant_context(other_tenant), pytest.raises(TenantMismatch):
        services.invite_create(tenant=tenant, email="n@example.com", role=Role.AGENT, invited_by=None)
    assert Invite.all_tenants.count() == 0


def test_invite_accept_enters_the_invite_tenant_whatever_the_context(tenant, other_tenant):
    with tenant_context(tenant):
        _invite, token = services.invite_create(tenant=tenant, email="n@example.com", role=Role.AGENT, invited_by=None)

    # The token is the only credential: the invite's tenant is entered, whatever was current.
    with tenant_context(other_tenant):
        pair = services.invite_accept(token=token, password=NEW_PASSWORD, name="N", ip="10.0.0.1")

    assert pair.tenant == tenant
    assert AccessToken(pair.access)[services.TENANT_CLAIM] == tenant.pk
    assert membership_of(pair.user, tenant).role == Role.AGENT


def test_invite_accept_wrong_password_counts_as_a_login_failure(tenant, agent_user, other_tenant):
    from config.redis import get_redis

    with tenant_context(other_tenant):
        _invite, token = services.invite_create(
            tenant=other_tenant, email=agent_user.email, role=Role.AGENT, invited_by=None
        )

    with pytest.raises(InvalidCredentials):
        services.invite_accept(token=token, password="wrong", ip="10.0.0.1")

    assert int(get_redis().get(services.login_failures(email=agent_user.email, ip="10.0.0.1").key)) == 1


def test_password_reset_request_for_unknown_email_sends_nothing(mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.password_reset_request(email="ghost@example.com")

    assert callbacks == []
    assert mailoutbox == []


def test_user_update_profile_ignores_other_fields(agent_user):
    email = agent_user.email

    services.user_update_profile(user=agent_user, name="New", email="x@example.com", is_superuser=True)

    agent_user.refresh_from_db()
    assert (agent_user.name, agent_user.email, agent_user.is_superuser) == ("New", email, False)


def test_demo_seed_is_created_once(db):
    from tenants.demo import demo_seed

    first = demo_seed()
    User.objects.filter(email="agent1@demo.prosa.local").update(name="Changed")

    second = demo_seed()

    assert (first.created, second.created) == (True, False)
    assert first.tenant == second.tenant
    assert Membership.all_tenants.filter(tenant=first.tenant).count() == 4
    assert User.objects.get(email="agent1@demo.prosa.local").name == "Changed"
    assert services.auth_login(email="admin@demo.prosa.local", password=first.password, ip="x").tenant == first.tenant


def test_the_demo_tenant_routes_new_conversations_through_a_menu(db):
    from tenants.context import tenant_context
    from tenants.demo import demo_seed
    from tickets.models import Queue, QuickReply

    seed = demo_seed()
    demo_seed()  # a second run adds nothing
    with tenant_context(seed.tenant):
        queues = list(Queue.objects.order_by("menu_order").values_list("name", "auto_assignment"))
        assert queues == [("Vendas", "round_robin"), ("Suporte", "off")]
        assert Queue.objects.get(name="Vendas").members.count() == 2
        assert QuickReply.objects.count() == 2
    assert seed.tenant.rating_enabled and seed.tenant.reopen_window_minutes == 30
