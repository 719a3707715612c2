"""The authentication API: register, login (and its throttle), tokens, logout, me, password change
and reset. Every request goes through the real URLconf, JWT authentication, PostgreSQL and Redis."""

import time
from datetime import timedelta

import jwt
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import check_password
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import Membership, Role, User
from accounts.services import TENANT_CLAIM
from accounts.tests.factories import MembershipFactory, UserFactory
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
PASSWORD = "/api/v1/auth/password"
RESET = "/api/v1/auth/password-reset"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm"

NEW_PASSWORD = "Brand-New-Secret-77"


@pytest.fixture(autouse=True)
def _mail_and_throttle(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.LOGIN_THROTTLE_ATTEMPTS = 5
    settings.LOGIN_THROTTLE_WINDOW = 15 * 60
    settings.ALLOW_REGISTRATION = True


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def login(api_client, email, password, ip="127.0.0.1", **fields):
    return api_client.post(LOGIN, {"email": email, "password": password, **fields}, format="json", REMOTE_ADDR=ip)


def membership_of(user, tenant) -> Membership:
    return Membership.all_tenants.get(user=user, tenant=tenant)


def reset_parts(link: str) -> tuple[str, str]:
    """`.../reset-password/<uid>/<token>/` → (uid, token)."""
    uid, token = link.rstrip("/").split("/")[-2:]
    return uid, token


# --- Register ----------------------------------------------------------------


def register_body(**overrides):
    return {
        "email": "founder@example.com",
        "password": "Sturdy-Password-91",
        "name": "Fernanda Founder",
        "tenant_name": "Acme Corp",
        **overrides,
    }


def test_register_creates_tenant_admin_and_first_superuser(api_client):
    response = api_client.post(REGISTER, register_body(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access", "refresh", "user", "tenant"}
    assert body["user"]["email"] == "founder@example.com"
    assert body["user"]["is_superuser"] is True
    assert body["tenant"]["name"] == "Acme Corp"
    assert body["tenant"]["slug"] == "acme-corp"

    user = User.objects.get(email="founder@example.com")
    tenant = Tenant.objects.get(slug="acme-corp")
    assert user.is_superuser is True
    assert user.name == "Fernanda Founder"
    assert user.check_password("Sturdy-Password-91")
    assert list(Membership.all_tenants.values_list("tenant_id", "user_id", "role", "is_active")) == [
        (tenant.pk, user.pk, Role.ADMIN, True)
    ]
    assert AccessToken(body["access"])[TENANT_CLAIM] == tenant.pk
    # The tokens work straight away.
    assert bearer(body["access"]).get(ME).json()["role"] == Role.ADMIN


def test_register_second_user_is_not_superuser(api_client):
    api_client.post(REGISTER, register_body(), format="json")

    response = api_client.post(
        REGISTER, register_body(email="second@example.com", tenant_name="Acme Corp"), format="json"
    )

    assert response.status_code == 201
    assert response.json()["user"]["is_superuser"] is False
    assert User.objects.get(email="second@example.com").is_superuser is False
    # Same company name, distinct workspace.
    assert response.json()["tenant"]["slug"] == "acme-corp-2"
    assert Tenant.objects.count() == 2


@pytest.mark.parametrize("email", ["taken@example.com", "TAKEN@Example.COM", "  taken@example.com"])
def test_register_duplicate_email_is_409_and_writes_nothing(api_client, email):
    UserFactory(email="taken@example.com")
    users, tenants = User.objects.count(), Tenant.objects.count()

    response = api_client.post(REGISTER, register_body(email=email), format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert list(response.json()["fields"]) == ["email"]
    assert (User.objects.count(), Tenant.objects.count()) == (users, tenants)


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "founder@example.com"])
def test_register_weak_password_is_400_with_fields(api_client, password):
    response = api_client.post(REGISTER, register_body(password=password), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_password"
    assert list(body["fields"]) == ["password"]
    assert body["fields"]["password"]
    assert (User.objects.count(), Tenant.objects.count(), Membership.all_tenants.count()) == (0, 0, 0)


def test_register_missing_fields_is_400_invalid(api_client):
    response = api_client.post(REGISTER, {"email": "not-an-email"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"email", "password", "name", "tenant_name"}
    assert User.objects.count() == 0


def test_register_closed_is_403(api_client, settings):
    settings.ALLOW_REGISTRATION = False

    response = api_client.post(REGISTER, register_body(), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "registration_closed"
    assert (User.objects.count(), Tenant.objects.count()) == (0, 0)


# --- Login -------------------------------------------------------------------


def test_login_returns_tenant_bound_tokens(api_client, tenant, agent_user, password):
    before = timezone.now()

    response = login(api_client, agent_user.email, password)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "user", "tenant"}
    assert body["user"]["id"] == agent_user.pk
    assert body["tenant"] == {
        "id": tenant.pk,
        "name": "Shared Co",
        "slug": "shared",
        "timezone": tenant.timezone,
        "language": tenant.language,
    }
    access, refresh = AccessToken(body["access"]), RefreshToken(body["refresh"])
    assert access[TENANT_CLAIM] == refresh[TENANT_CLAIM] == tenant.pk
    assert access["user_id"] == str(agent_user.pk)
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    agent_user.refresh_from_db()
    assert agent_user.last_login >= before
    assert body["user"]["last_login"] is not None


def test_login_email_is_case_insensitive(api_client, agent_user, password):
    response = login(api_client, f"  {agent_user.email.upper()} ", password)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == agent_user.pk


@pytest.mark.parametrize("trailing_slash", ["", "/"])
def test_login_wrong_password_is_401(api_client, agent_user, trailing_slash):
    response = api_client.post(
        LOGIN + trailing_slash, {"email": agent_user.email, "password": "wrong-password"}, format="json"
    )

    assert response.status_code == 401
    assert response.json() == {"code": "invalid_credentials", "detail": "Email or password is incorrect.", "fields": {}}
    agent_user.refresh_from_db()
    assert agent_user.last_login is None
    assert OutstandingToken.objects.count() == 0


def test_login_unknown_email_is_the_same_401(api_client, tenant):
    response = login(api_client, "nobody@example.com", "whatever-Password-1")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_login_inactive_user_is_401(api_client, agent_user, password):
    User.objects.filter(pk=agent_user.pk).update(is_active=False)

    response = login(api_client, agent_user.email, password)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert OutstandingToken.objects.count() == 0


def test_login_with_deactivated_membership_is_403(api_client, tenant, agent_user, password):
    Membership.all_tenants.filter(user=agent_user).update(is_active=False)

    response = login(api_client, agent_user.email, password)

    assert response.status_code == 403
    assert response.json()["code"] == "no_active_membership"
    assert OutstandingToken.objects.count() == 0


def test_login_to_deactivated_tenant_is_403(api_client, tenant, agent_user, password):
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)

    response = login(api_client, agent_user.email, password)

    assert response.status_code == 403
    assert response.json()["code"] == "no_active_membership"


@pytest.fixture
def two_tenant_user(tenant, other_tenant):
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role=Role.AGENT)
    MembershipFactory(tenant=other_tenant, user=user, role=Role.ADMIN)
    return user


def test_login_member_of_several_tenants_must_choose(api_client, two_tenant_user, password):
    response = login(api_client, two_tenant_user.email, password)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "tenant_required"
    assert body["fields"] == {"tenant": ["shared", "other"]}
    assert OutstandingToken.objects.count() == 0


def test_login_chooses_tenant_by_slug(api_client, other_tenant, two_tenant_user, password):
    response = login(api_client, two_tenant_user.email, password, tenant="other")

    assert response.status_code == 200
    assert response.json()["tenant"]["id"] == other_tenant.pk
    assert AccessToken(response.json()["access"])[TENANT_CLAIM] == other_tenant.pk
    assert bearer(response.json()["access"]).get(ME).json()["role"] == Role.ADMIN


@pytest.mark.parametrize("as_string", [False, True])
def test_login_chooses_tenant_by_id(api_client, tenant, two_tenant_user, password, as_string):
    ref = str(tenant.pk) if as_string else tenant.pk

    response = login(api_client, two_tenant_user.email, password, tenant=ref)

    assert response.status_code == 200
    assert AccessToken(response.json()["access"])[TENANT_CLAIM] == tenant.pk
    assert bearer(response.json()["access"]).get(ME).json()["role"] == Role.AGENT


def test_login_to_a_tenant_the_user_is_not_in_is_401(api_client, agent_user, other_tenant, password):
    for ref in ("other", other_tenant.pk, "no-such-tenant", 999999):
        response = login(api_client, agent_user.email, password, tenant=ref)

        assert response.status_code == 401, ref
        assert response.json()["code"] == "invalid_credentials"
    assert OutstandingToken.objects.count() == 0


def test_login_blank_tenant_with_one_membership_enters_it(api_client, tenant, agent_user, password):
    response = login(api_client, agent_user.email, password, tenant="")

    assert response.status_code == 200
    assert response.json()["tenant"]["id"] == tenant.pk


# --- Login throttle ----------------------------------------------------------


def fail_login(api_client, email, times, ip="127.0.0.1"):
    for _ in range(times):
        response = api_client.post(LOGIN, {"email": email, "password": "wrong-password"}, format="json", REMOTE_ADDR=ip)
        assert response.status_code == 401


def test_five_failures_then_429_with_retry_after(api_client, agent_user):
    fail_login(api_client, agent_user.email, 5)

    response = api_client.post(LOGIN, {"email": agent_user.email, "password": "wrong-password"}, format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "login_throttled"
    assert 0 < int(response["Retry-After"]) <= 15 * 60


def test_correct_password_is_refused_while_blocked(api_client, agent_user, password):
    fail_login(api_client, agent_user.email, 5)

    response = login(api_client, agent_user.email, password)

    assert response.status_code == 429
    assert response.json()["code"] == "login_throttled"
    assert OutstandingToken.objects.count() == 0
    agent_user.refresh_from_db()
    assert agent_user.last_login is None


def test_block_counts_the_email_in_any_case(api_client, agent_user, password):
    fail_login(api_client, agent_user.email.upper(), 5)

    assert login(api_client, agent_user.email, password).status_code == 429


def test_block_is_per_email_and_ip(api_client, tenant, agent_user, make_member, password):
    other = make_member(tenant)
    fail_login(api_client, agent_user.email, 5, ip="10.0.0.1")

    assert login(api_client, agent_user.email, password, ip="10.0.0.1").status_code == 429
    # Another email from the same IP, and the same email from another IP, get through.
    assert login(api_client, other.email, password, ip="10.0.0.1").status_code == 200
    assert login(api_client, agent_user.email, password, ip="10.0.0.2").status_code == 200


def test_four_failures_do_not_block_and_success_clears_the_counter(api_client, agent_user, password):
    fail_login(api_client, agent_user.email, 4)
    assert login(api_client, agent_user.email, password).status_code == 200

    # The counter restarted: four more failures still leave the door open.
    fail_login(api_client, agent_user.email, 4)
    assert login(api_client, agent_user.email, password).status_code == 200


def test_block_ends_with_the_window(api_client, agent_user, password):
    from accounts.throttling import login_failures
    from config.redis import get_redis

    fail_login(api_client, agent_user.email, 5)
    key = login_failures(email=agent_user.email, ip="127.0.0.1").key
    assert 14 * 60 < get_redis().ttl(key) <= 15 * 60
    assert login(api_client, agent_user.email, password).status_code == 429

    get_redis().pexpire(key, 50)  # fast-forward to the end of the window
    time.sleep(0.1)

    assert login(api_client, agent_user.email, password).status_code == 200


# --- Tokens ------------------------------------------------------------------


def test_expired_access_token_is_401(tenant, agent_user):
    token = AccessToken.for_user(agent_user)
    token[TENANT_CLAIM] = tenant.pk
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=15))

    response = bearer(str(token)).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_valid_hand_built_access_token_is_accepted(tenant, agent_user):
    """Control for the test above: the same token, not expired, gets in."""
    token = AccessToken.for_user(agent_user)
    token[TENANT_CLAIM] = tenant.pk

    assert bearer(str(token)).get(ME).status_code == 200


def test_forged_signature_is_401(tenant, other_tenant, agent_user, client_for):
    payload = dict(AccessToken(client_for(agent_user, tenant).tokens.access).payload)
    payload[TENANT_CLAIM] = other_tenant.pk  # what a forger would want

    forged = jwt.encode(payload, "not-the-signing-key-but-long-enough-for-hs256", algorithm="HS256")
    response = bearer(forged).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_tampered_payload_is_401(tenant, agent_user, client_for):
    header, _payload, signature = client_for(agent_user, tenant).tokens.access.split(".")
    other_payload = client_for(UserFactory(), tenant).tokens.access.split(".")[1]

    response = bearer(f"{header}.{other_payload}.{signature}").get(ME)

    assert response.status_code == 401


def test_token_without_tenant_claim_is_401(tenant, agent_user):
    response = bearer(str(AccessToken.for_user(agent_user))).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "no_active_membership"


def test_refresh_token_used_as_access_is_401(tenant, agent_user, client_for):
    refresh = client_for(agent_user, tenant).tokens.refresh

    response = bearer(refresh).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_access_token_used_as_refresh_is_401(api_client, tenant, agent_user, client_for):
    access = client_for(agent_user, tenant).tokens.access

    response = api_client.post(REFRESH, {"refresh": access}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_access_token_after_membership_deactivated_is_401(tenant, agent_user, client_for):
    client = client_for(agent_user, tenant)
    assert client.get(ME).status_code == 200

    Membership.all_tenants.filter(user=agent_user).update(is_active=False)
    response = client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "no_active_membership"


def test_access_token_after_user_deactivated_is_401(tenant, agent_user, client_for):
    client = client_for(agent_user, tenant)
    User.objects.filter(pk=agent_user.pk).update(is_active=False)

    response = client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "user_inactive"


def test_access_token_of_other_tenant_does_not_see_this_one(tenant, other_tenant, make_member, client_for):
    """A member of two tenants with a token for one of them is in that one only."""
    user = make_member(tenant, Role.AGENT)
    MembershipFactory(tenant=other_tenant, user=user, role=Role.ADMIN)

    body = client_for(user, other_tenant).get(ME).json()

    assert body["tenant"]["id"] == other_tenant.pk
    assert body["role"] == Role.ADMIN


# --- Refresh and logout ------------------------------------------------------


def test_refresh_rotates_and_old_refresh_is_refused(api_client, tenant, agent_user, client_for):
    old = client_for(agent_user, tenant).tokens.refresh

    response = api_client.post(REFRESH, {"refresh": old}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "user", "tenant"}
    assert body["refresh"] != old
    assert AccessToken(body["access"])[TENANT_CLAIM] == tenant.pk
    assert RefreshToken(body["refresh"])[TENANT_CLAIM] == tenant.pk
    assert bearer(body["access"]).get(ME).status_code == 200
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(old, verify=False)["jti"]).exists()

    reused = api_client.post(REFRESH, {"refresh": old}, format="json")
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_not_valid"

    # The rotated one keeps working (once).
    again = api_client.post(REFRESH, {"refresh": body["refresh"]}, format="json")
    assert again.status_code == 200


def test_refresh_with_trailing_slash_and_missing_field(api_client):
    response = api_client.post(REFRESH + "/", {}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == ["refresh"]


def test_refresh_ignores_a_stale_authorization_header(tenant, agent_user, client_for):
    refresh = client_for(agent_user, tenant).tokens.refresh

    response = bearer("garbage").post(REFRESH, {"refresh": refresh}, format="json")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "refresh, status, code",
    [("garbage", 401, "token_not_valid"), ("a.b.c", 401, "token_not_valid"), ("", 400, "invalid")],
)
def test_refresh_with_a_malformed_token(api_client, refresh, status, code):
    response = api_client.post(REFRESH, {"refresh": refresh}, format="json")

    assert response.status_code == status
    assert response.json()["code"] == code
    assert BlacklistedToken.objects.count() == 0


def test_refresh_after_membership_deactivated_is_401(api_client, tenant, agent_user, client_for):
    refresh = client_for(agent_user, tenant).tokens.refresh
    Membership.all_tenants.filter(user=agent_user).update(is_active=False)

    response = api_client.post(REFRESH, {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "no_active_membership"
    # The refused refresh token was not spent.
    assert BlacklistedToken.objects.count() == 0


def test_refresh_of_inactive_user_is_401(api_client, tenant, agent_user, client_for):
    refresh = client_for(agent_user, tenant).tokens.refresh
    User.objects.filter(pk=agent_user.pk).update(is_active=False)

    response = api_client.post(REFRESH, {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_refresh_of_deleted_user_is_401_not_500(api_client, tenant, agent_user, client_for):
    refresh = client_for(agent_user, tenant).tokens.refresh
    User.objects.filter(pk=agent_user.pk).delete()

    response = api_client.post(REFRESH, {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_expired_refresh_token_is_401(api_client, tenant, agent_user):
    token = RefreshToken.for_user(agent_user)
    token[TENANT_CLAIM] = tenant.pk
    token.set_exp(from_time=timezone.now() - timedelta(days=8), lifetime=timedelta(days=7))

    response = api_client.post(REFRESH, {"refresh": str(token)}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_logout_blacklists_refresh(api_client, tenant, agent_user, client_for):
    client = client_for(agent_user, tenant)
    refresh = client.tokens.refresh

    response = client.post(LOGOUT, {"refresh": refresh}, format="json")

    assert response.status_code == 204
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(refresh, verify=False)["jti"]).count() == 1
    after = api_client.post(REFRESH, {"refresh": refresh}, format="json")
    assert after.status_code == 401
    assert after.json() == {"code": "token_not_valid", "detail": "Token is blacklisted", "fields": {}}


def test_logout_is_idempotent_and_quiet_about_bad_tokens(api_client, tenant, agent_user, client_for):
    refresh = client_for(agent_user, tenant).tokens.refresh

    assert api_client.post(LOGOUT, {"refresh": refresh}, format="json").status_code == 204
    assert api_client.post(LOGOUT, {"refresh": refresh}, format="json").status_code == 204
    assert api_client.post(LOGOUT, {"refresh": "garbage"}, format="json").status_code == 204
    assert BlacklistedToken.objects.count() == 1


def test_logout_works_with_an_expired_access_token_in_the_header(tenant, agent_user, client_for):
    """The access token has typically expired by the time a client logs out: that must not keep
    the refresh token alive."""
    refresh = client_for(agent_user, tenant).tokens.refresh
    expired = AccessToken.for_user(agent_user)
    expired[TENANT_CLAIM] = tenant.pk
    expired.set_exp(from_time=timezone.now() - timedelta(hours=1))

    response = bearer(str(expired)).post(LOGOUT, {"refresh": refresh}, format="json")

    assert response.status_code == 204
    assert BlacklistedToken.objects.count() == 1


def test_logout_requires_the_refresh_field(api_client):
    response = api_client.post(LOGOUT, {}, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["refresh"]


# --- Me ----------------------------------------------------------------------


def test_me_shape(tenant, other_tenant, make_member, client_for):
    user = make_member(tenant, Role.SUPERVISOR, name="Sara", email="sara@example.com")
    MembershipFactory(tenant=other_tenant, user=user)

    response = client_for(user, tenant).get(ME)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "tenant", "role", "tenants"}
    assert set(body["user"]) == {"id", "email", "name", "avatar", "is_superuser", "date_joined", "last_login"}
    assert body["user"]["email"] == "sara@example.com"
    assert body["user"]["name"] == "Sara"
    assert body["tenant"]["id"] == tenant.pk
    assert body["role"] == "supervisor"
    assert [t["slug"] for t in body["tenants"]] == ["shared", "other"]


def test_me_lists_only_active_tenants(tenant, other_tenant, make_member, client_for):
    user = make_member(tenant)
    MembershipFactory(tenant=other_tenant, user=user, is_active=False)

    body = client_for(user, tenant).get(ME).json()

    assert [t["slug"] for t in body["tenants"]] == ["shared"]


def test_me_patch_changes_name_only(tenant, agent_user, client_for):
    email = agent_user.email

    response = client_for(agent_user, tenant).patch(
        ME, {"name": "New Name", "email": "evil@example.com", "is_superuser": True}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["user"]["name"] == "New Name"
    agent_user.refresh_from_db()
    assert (agent_user.name, agent_user.email, agent_user.is_superuser) == ("New Name", email, False)


def test_me_patch_too_long_name_is_400(tenant, agent_user, client_for):
    name = agent_user.name

    response = client_for(agent_user, tenant).patch(ME, {"name": "x" * 151}, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["name"]
    agent_user.refresh_from_db()
    assert agent_user.name == name


def test_me_anonymous_is_401(api_client):
    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- Password change ---------------------------------------------------------


def test_password_change_revokes_old_tokens_and_new_ones_work(api_client, tenant, agent_user, client_for, password):
    old = client_for(agent_user, tenant)
    other_session = client_for(agent_user, tenant)

    response = old.post(PASSWORD, {"current_password": password, "new_password": NEW_PASSWORD}, format="json")

    assert response.status_code == 200
    body = response.json()
    agent_user.refresh_from_db()
    assert agent_user.check_password(NEW_PASSWORD)
    assert agent_user.tokens_valid_after is not None

    # Old access tokens (this session's and another's, issued in the same second) are refused...
    for client in (old, other_session):
        refused = client.get(ME)
        assert refused.status_code == 401
        assert refused.json()["code"] == "token_revoked"
    # ...and so are their refresh tokens.
    for refresh in (old.tokens.refresh, other_session.tokens.refresh):
        assert api_client.post(REFRESH, {"refresh": refresh}, format="json").status_code == 401

    # The new pair works, including after a refresh.
    assert bearer(body["access"]).get(ME).status_code == 200
    refreshed = api_client.post(REFRESH, {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert bearer(refreshed.json()["access"]).get(ME).status_code == 200

    # And the password itself changed.
    assert login(api_client, agent_user.email, password).status_code == 401
    assert login(api_client, agent_user.email, NEW_PASSWORD).status_code == 200


def test_password_change_also_revokes_rotated_refresh_tokens(api_client, tenant, agent_user, client_for, password):
    client = client_for(agent_user, tenant)
    rotated = api_client.post(REFRESH, {"refresh": client.tokens.refresh}, format="json").json()["refresh"]

    client.post(PASSWORD, {"current_password": password, "new_password": NEW_PASSWORD}, format="json")

    assert api_client.post(REFRESH, {"refresh": rotated}, format="json").status_code == 401


def test_password_change_wrong_current_is_400(tenant, agent_user, client_for, password):
    client = client_for(agent_user, tenant)

    response = client.post(PASSWORD, {"current_password": "nope", "new_password": NEW_PASSWORD}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "wrong_password"
    assert list(response.json()["fields"]) == ["current_password"]
    agent_user.refresh_from_db()
    assert agent_user.check_password(password)
    assert agent_user.tokens_valid_after is None
    assert client.get(ME).status_code == 200


def test_password_change_weak_new_password_is_400(tenant, agent_user, client_for, password):
    client = client_for(agent_user, tenant)

    response = client.post(PASSWORD, {"current_password": password, "new_password": "123"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_password"
    assert list(response.json()["fields"]) == ["password"]
    agent_user.refresh_from_db()
    assert agent_user.check_password(password)
    assert BlacklistedToken.objects.count() == 0


def test_password_change_requires_authentication(api_client, password):
    response = api_client.post(PASSWORD, {"current_password": password, "new_password": NEW_PASSWORD}, format="json")

    assert response.status_code == 401


# --- Password reset ----------------------------------------------------------


def test_password_reset_flow(
    api_client, tenant, agent_user, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    session = client_for(agent_user, tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(RESET, {"email": agent_user.email.upper()}, format="json")

    assert response.status_code == 202
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [agent_user.email]
    link = mailoutbox[0].body.split()[-1]
    assert link.startswith(f"{django_settings.PUBLIC_URL}/reset-password/")
    uid, token = reset_parts(link)

    confirmed = api_client.post(
        RESET_CONFIRM, {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json"
    )

    assert confirmed.status_code == 204
    agent_user.refresh_from_db()
    assert agent_user.check_password(NEW_PASSWORD)
    assert login(api_client, agent_user.email, NEW_PASSWORD).status_code == 200
    # Sessions opened with the old password are over.
    assert session.get(ME).status_code == 401
    assert api_client.post(REFRESH, {"refresh": session.tokens.refresh}, format="json").status_code == 401
    # The link is single-use.
    again = api_client.post(
        RESET_CONFIRM, {"uid": uid, "token": token, "new_password": "Yet-Another-55"}, format="json"
    )
    assert again.status_code == 400
    assert again.json()["code"] == "reset_link_invalid"


def test_password_reset_unknown_or_inactive_email_sends_nothing(
    api_client, agent_user, mailoutbox, django_capture_on_commit_callbacks
):
    User.objects.filter(pk=agent_user.pk).update(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        unknown = api_client.post(RESET, {"email": "nobody@example.com"}, format="json")
        inactive = api_client.post(RESET, {"email": agent_user.email}, format="json")

    assert unknown.status_code == inactive.status_code == 202
    assert mailoutbox == []


@pytest.mark.parametrize(
    "uid, token",
    [("!!!", "x"), ("MTIzNDU2Nzg5", "x"), ("OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "x"), ("YWJj", "x")],
)
def test_password_reset_confirm_bad_link_is_400(api_client, uid, token):
    response = api_client.post(RESET_CONFIRM, {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "reset_link_invalid"


def test_password_reset_confirm_wrong_token_changes_nothing(api_client, agent_user, password):
    from accounts.services import password_reset_link

    uid, _token = reset_parts(password_reset_link(user=agent_user))

    response = api_client.post(
        RESET_CONFIRM, {"uid": uid, "token": "1-abc", "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "reset_link_invalid"
    agent_user.refresh_from_db()
    assert agent_user.check_password(password)


def test_password_reset_confirm_weak_password_keeps_the_old_one(api_client, agent_user, password):
    from accounts.services import password_reset_link

    uid, token = reset_parts(password_reset_link(user=agent_user))

    response = api_client.post(RESET_CONFIRM, {"uid": uid, "token": token, "new_password": "abc"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_password"
    agent_user.refresh_from_db()
    assert check_password(password, agent_user.password)
    # The link is still good for a proper password.
    ok = api_client.post(RESET_CONFIRM, {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")
    assert ok.status_code == 204


def test_register_never_joins_an_existing_workspace(api_client):
    """Registration never reuses an existing workspace, even one with the slug it would pick."""
    TenantFactory(slug="acme-corp", name="Someone Else")

    response = api_client.post(REGISTER, register_body(), format="json")

    assert response.status_code == 201
    assert response.json()["tenant"]["slug"] == "acme-corp-2"
    assert Membership.all_tenants.filter(tenant__slug="acme-corp").count() == 0


def test_login_throttle_counts_the_forwarded_client_ip_behind_a_trusted_proxy(api_client, admin_user, settings):
    """With one trusted proxy, two clients behind it are throttled separately."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for _ in range(5):
        api_client.post(
            "/api/v1/auth/login",
            {"email": admin_user.email, "password": "wrong-password"},
            format="json",
            HTTP_X_FORWARDED_FOR="203.0.113.7",
        )
    blocked = api_client.post(
        "/api/v1/auth/login",
        {"email": admin_user.email, "password": "wrong-password"},
        format="json",
        HTTP_X_FORWARDED_FOR="203.0.113.7",
    )
    other_client = api_client.post(
        "/api/v1/auth/login",
        {"email": admin_user.email, "password": "wrong-password"},
        format="json",
        HTTP_X_FORWARDED_FOR="198.51.100.9",
    )
    assert blocked.status_code == 429
    assert other_client.status_code == 401
