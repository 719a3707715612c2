"""/api/v1/invites (admins) and the public /api/v1/invites/{token}/accept."""

import hashlib
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Invite, Membership, Role, User
from accounts.services import TENANT_CLAIM
from accounts.tests.factories import InviteFactory, MembershipFactory, UserFactory
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

INVITES = "/api/v1/invites"
NEW_PASSWORD = "Brand-New-Secret-77"


@pytest.fixture(autouse=True)
def _mail_and_throttle(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.LOGIN_THROTTLE_ATTEMPTS = 5
    settings.LOGIN_THROTTLE_WINDOW = 15 * 60


@pytest.fixture
def admin(admin_user, tenant, client_for):
    return client_for(admin_user, tenant)


def accept_url(token: str) -> str:
    return f"{INVITES}/{token}/accept"


def make_invite(token="raw-token", **fields) -> Invite:
    """An invite whose raw token is known (the factory otherwise stores an arbitrary hash)."""
    return InviteFactory(token_hash=hashlib.sha256(token.encode()).hexdigest(), **fields)


def invite_rows():
    return list(Invite.all_tenants.order_by("pk").values_list("email", "role", "revoked_at", "accepted_at"))


# --- Create ------------------------------------------------------------------


def test_create_returns_token_and_url_once_and_emails_the_link(
    admin, tenant, admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin.post(INVITES, {"email": " New.Person@Example.com ", "role": "supervisor"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "email",
        "role",
        "status",
        "invited_by",
        "expires_at",
        "accepted_at",
        "revoked_at",
        "created_at",
        "token",
        "accept_url",
    }
    assert (body["email"], body["role"], body["status"]) == ("new.person@example.com", "supervisor", "pending")
    assert body["invited_by"] == str(admin_user)
    assert body["accept_url"] == f"{django_settings.PUBLIC_URL}/invite/{body['token']}/"

    invite = Invite.all_tenants.get()
    assert invite.tenant_id == tenant.pk
    assert invite.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in invite.token_hash
    assert invite.invited_by_id == admin_user.pk
    lifetime = invite.expires_at - invite.created_at
    assert timedelta(days=6, hours=23) < lifetime <= timedelta(days=7)

    assert len(callbacks) == 1
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["new.person@example.com"]
    assert "Shared Co" in mailoutbox[0].subject
    assert body["accept_url"] in mailoutbox[0].body


def test_create_without_role_invites_an_agent(admin):
    response = admin.post(INVITES, {"email": "agent@example.com"}, format="json")

    assert response.status_code == 201
    assert response.json()["role"] == "agent"
    assert Invite.all_tenants.get().role == Role.AGENT


def test_email_is_not_sent_before_commit(admin, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin.post(INVITES, {"email": "later@example.com"}, format="json")

    assert len(callbacks) == 1
    assert mailoutbox == []


@pytest.mark.parametrize(
    "body, fields",
    [({}, ["email"]), ({"email": "nope"}, ["email"]), ({"email": "a@example.com", "role": "owner"}, ["role"])],
)
def test_create_invalid_input_is_400(admin, mailoutbox, body, fields):
    response = admin.post(INVITES, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == fields
    assert Invite.all_tenants.count() == 0


def test_inviting_an_active_member_is_409(admin, agent_user, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(INVITES, {"email": agent_user.email.upper()}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "already_member"
    assert list(response.json()["fields"]) == ["email"]
    assert Invite.all_tenants.count() == 0
    assert mailoutbox == []


def test_member_of_another_tenant_can_be_invited(admin, other_tenant, make_member):
    elsewhere = make_member(other_tenant)

    response = admin.post(INVITES, {"email": elsewhere.email}, format="json")

    assert response.status_code == 201


def test_deactivated_member_can_be_invited_back(admin, tenant, agent_user):
    Membership.all_tenants.filter(user=agent_user).update(is_active=False)

    response = admin.post(INVITES, {"email": agent_user.email}, format="json")

    assert response.status_code == 201


def test_seat_limit_counts_pending_invites(admin, tenant, agent_user, mailoutbox, django_capture_on_commit_callbacks):
    tenant.max_users = 3  # admin + agent + one pending invite
    tenant.save(update_fields=["max_users"])
    assert admin.post(INVITES, {"email": "first@example.com"}, format="json").status_code == 201

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(INVITES, {"email": "second@example.com"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "seat_limit_reached"
    assert [row[0] for row in invite_rows()] == ["first@example.com"]
    assert mailoutbox == []


def test_revoked_expired_and_accepted_invites_free_their_seat(admin, tenant, agent_user):
    tenant.max_users = 3
    tenant.save(update_fields=["max_users"])
    make_invite(token="a", tenant=tenant, revoked_at=timezone.now())
    make_invite(token="b", tenant=tenant, expires_at=timezone.now() - timedelta(minutes=1))
    make_invite(token="c", tenant=tenant, accepted_at=timezone.now())

    response = admin.post(INVITES, {"email": "fits@example.com"}, format="json")

    assert response.status_code == 201


def test_reinviting_an_address_replaces_its_pending_invite(admin, tenant, agent_user):
    """A lost link is re-sent by inviting again; that must not hold a second seat."""
    tenant.max_users = 3
    tenant.save(update_fields=["max_users"])
    first = admin.post(INVITES, {"email": "again@example.com"}, format="json").json()

    second = admin.post(INVITES, {"email": "AGAIN@example.com", "role": "supervisor"}, format="json")

    assert second.status_code == 201
    statuses = {row["id"]: row["status"] for row in admin.get(INVITES).json()["results"]}
    assert statuses == {first["id"]: "revoked", second.json()["id"]: "pending"}
    assert admin.get(f"{INVITES}/{first['token']}/accept").json()["code"] == "invite_not_pending"


def test_invites_of_other_tenants_do_not_count(admin, tenant, other_tenant, agent_user):
    tenant.max_users = 3
    tenant.save(update_fields=["max_users"])
    for n in range(3):
        make_invite(token=f"other-{n}", tenant=other_tenant)

    assert admin.post(INVITES, {"email": "fits@example.com"}, format="json").status_code == 201


# --- List, detail, revoke ----------------------------------------------------


def test_list_does_not_include_the_token(admin, tenant, other_tenant):
    created = admin.post(INVITES, {"email": "x@example.com"}, format="json").json()
    make_invite(token="theirs", tenant=other_tenant)

    response = admin.get(INVITES)

    assert response.status_code == 200
    assert response.json()["count"] == 1
    row = response.json()["results"][0]
    assert row["id"] == created["id"]
    assert not {"token", "accept_url", "token_hash"} & set(row)
    assert created["token"] not in response.content.decode()
    detail = admin.get(f"{INVITES}/{created['id']}").json()
    assert not {"token", "accept_url", "token_hash"} & set(detail)


def test_list_shows_status(admin, tenant):
    make_invite(token="p", tenant=tenant, email="p@example.com")
    make_invite(token="r", tenant=tenant, email="r@example.com", revoked_at=timezone.now())
    make_invite(token="e", tenant=tenant, email="e@example.com", expires_at=timezone.now() - timedelta(seconds=1))
    make_invite(token="a", tenant=tenant, email="a@example.com", accepted_at=timezone.now())

    rows = admin.get(INVITES).json()["results"]

    assert {row["email"]: row["status"] for row in rows} == {
        "p@example.com": "pending",
        "r@example.com": "revoked",
        "e@example.com": "expired",
        "a@example.com": "accepted",
    }


def test_invite_of_another_tenant_is_404(admin, other_tenant):
    theirs = make_invite(token="theirs", tenant=other_tenant)

    assert admin.get(f"{INVITES}/{theirs.pk}").status_code == 404
    response = admin.post(f"{INVITES}/{theirs.pk}/revoke")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoke(admin, tenant):
    invite = make_invite(token="tok", tenant=tenant)

    response = admin.post(f"{INVITES}/{invite.pk}/revoke/")

    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    invite.refresh_from_db()
    assert invite.revoked_at is not None

    again = admin.post(f"{INVITES}/{invite.pk}/revoke")
    assert again.status_code == 409
    assert again.json()["code"] == "invite_not_pending"


def test_revoking_an_accepted_invite_is_409(admin, tenant):
    invite = make_invite(token="tok", tenant=tenant, accepted_at=timezone.now())

    response = admin.post(f"{INVITES}/{invite.pk}/revoke")

    assert response.status_code == 409
    invite.refresh_from_db()
    assert invite.revoked_at is None


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
def test_non_admins_cannot_manage_invites(tenant, make_member, client_for, role):
    client = client_for(make_member(tenant, role), tenant)
    invite = make_invite(token="tok", tenant=tenant)

    responses = [
        client.get(INVITES),
        client.get(f"{INVITES}/{invite.pk}"),
        client.post(INVITES, {"email": "x@example.com"}, format="json"),
        client.post(f"{INVITES}/{invite.pk}/revoke"),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert {r.json()["code"] for r in responses} == {"permission_denied"}
    assert Invite.all_tenants.count() == 1
    invite.refresh_from_db()
    assert invite.revoked_at is None


def test_anonymous_cannot_manage_invites(api_client, tenant):
    assert api_client.get(INVITES).status_code == 401
    assert api_client.post(INVITES, {"email": "x@example.com"}, format="json").status_code == 401
    assert Invite.all_tenants.count() == 0


def test_invites_list_query_count_does_not_grow_with_rows(tenant, admin, make_member, django_assert_num_queries):
    inviters = [make_member(tenant, Role.ADMIN) for _ in range(3)]
    for n in range(2):
        make_invite(token=f"few-{n}", tenant=tenant, invited_by=inviters[0])
    with CaptureQueriesContext(connection) as few:
        admin.get(INVITES)

    for n in range(20):
        make_invite(token=f"many-{n}", tenant=tenant, invited_by=inviters[n % 3], accepted_by=inviters[(n + 1) % 3])
    # authentication (the token's membership with its user and tenant), COUNT, page of invites with inviter and acceptor
    with django_assert_num_queries(3):
        response = admin.get(INVITES)

    assert response.json()["count"] == 22
    assert len(few.captured_queries) == 3


# --- Public accept -----------------------------------------------------------


def test_accept_info(api_client, tenant):
    make_invite(token="tok", tenant=tenant, email="newbie@example.com", role=Role.SUPERVISOR)

    response = api_client.get(accept_url("tok"))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"email", "role", "tenant", "expires_at", "existing_account"}
    assert (body["email"], body["role"], body["tenant"], body["existing_account"]) == (
        "newbie@example.com",
        "supervisor",
        "Shared Co",
        False,
    )


def test_accept_info_tells_of_an_existing_account(api_client, tenant):
    UserFactory(email="known@example.com")
    make_invite(token="tok", tenant=tenant, email="known@example.com")

    assert api_client.get(accept_url("tok") + "/").json()["existing_account"] is True


def test_accept_creates_the_user_with_the_invite_role(api_client, tenant):
    invite = make_invite(token="tok", tenant=tenant, email="newbie@example.com", role=Role.SUPERVISOR)

    response = api_client.post(accept_url("tok"), {"name": "Nina", "password": NEW_PASSWORD}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["tenant"]["id"] == tenant.pk
    assert AccessToken(body["access"])[TENANT_CLAIM] == tenant.pk
    user = User.objects.get(email="newbie@example.com")
    assert (user.name, user.is_superuser) == ("Nina", False)
    assert user.check_password(NEW_PASSWORD)
    membership = Membership.all_tenants.get(user=user)
    assert (membership.tenant_id, membership.role, membership.is_active) == (tenant.pk, Role.SUPERVISOR, True)
    invite.refresh_from_db()
    assert invite.accepted_by_id == user.pk
    assert invite.accepted_at is not None
    assert invite.status == Invite.Status.ACCEPTED
    me = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.json()["role"] == "supervisor"


def test_accept_with_a_weak_password_writes_nothing(api_client, tenant):
    invite = make_invite(token="tok", tenant=tenant, email="newbie@example.com")

    response = api_client.post(accept_url("tok"), {"password": "123"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_password"
    assert list(response.json()["fields"]) == ["password"]
    assert not User.objects.filter(email="newbie@example.com").exists()
    invite.refresh_from_db()
    assert invite.status == Invite.Status.PENDING


def test_accept_requires_a_password(api_client, tenant):
    make_invite(token="tok", tenant=tenant)

    response = api_client.post(accept_url("tok"), {"name": "Nina"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["password"]


def test_accept_with_an_existing_account_requires_its_password(api_client, tenant, other_tenant, password):
    existing = MembershipFactory(tenant=other_tenant, user=UserFactory(email="known@example.com")).user
    invite = make_invite(token="tok", tenant=tenant, email="known@example.com", role=Role.ADMIN)

    wrong = api_client.post(accept_url("tok"), {"password": "not-my-password"}, format="json")

    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_credentials"
    assert not Membership.all_tenants.filter(user=existing, tenant=tenant).exists()
    invite.refresh_from_db()
    assert invite.status == Invite.Status.PENDING

    right = api_client.post(accept_url("tok"), {"password": password, "name": "Ignored"}, format="json")

    assert right.status_code == 200
    assert right.json()["user"]["id"] == existing.pk
    assert Membership.all_tenants.get(user=existing, tenant=tenant).role == Role.ADMIN
    existing.refresh_from_db()
    assert existing.check_password(password)  # unchanged
    assert User.objects.filter(email="known@example.com").count() == 1


def test_accept_with_an_existing_account_is_throttled_like_login(api_client, tenant, password):
    UserFactory(email="known@example.com")
    make_invite(token="tok", tenant=tenant, email="known@example.com")
    for _ in range(5):
        assert api_client.post(accept_url("tok"), {"password": "guess"}, format="json").status_code == 401

    blocked = api_client.post(accept_url("tok"), {"password": password}, format="json")

    assert blocked.status_code == 429
    assert blocked.json()["code"] == "login_throttled"
    assert int(blocked["Retry-After"]) > 0
    assert not Membership.all_tenants.filter(tenant=tenant, user__email="known@example.com").exists()
    # The same block applies to the ordinary login.
    login = api_client.post("/api/v1/auth/login", {"email": "known@example.com", "password": password}, format="json")
    assert login.status_code == 429


def test_accept_by_an_inactive_account_is_401(api_client, tenant, password):
    UserFactory(email="gone@example.com", is_active=False)
    make_invite(token="tok", tenant=tenant, email="gone@example.com")

    response = api_client.post(accept_url("tok"), {"password": password}, format="json")

    assert response.status_code == 401
    assert Membership.all_tenants.filter(tenant=tenant).count() == 0


def test_accept_reactivates_a_deactivated_membership_with_the_invite_role(api_client, tenant, password):
    user = MembershipFactory(tenant=tenant, role=Role.AGENT, is_active=False).user
    make_invite(token="tok", tenant=tenant, email=user.email, role=Role.SUPERVISOR)

    response = api_client.post(accept_url("tok"), {"password": password}, format="json")

    assert response.status_code == 200
    membership = Membership.all_tenants.get(user=user, tenant=tenant)
    assert (membership.is_active, membership.role) == (True, Role.SUPERVISOR)
    assert Membership.all_tenants.filter(user=user).count() == 1


def test_accept_by_someone_already_active_is_409(api_client, tenant, agent_user, password):
    invite = make_invite(token="tok", tenant=tenant, email=agent_user.email, role=Role.ADMIN)

    response = api_client.post(accept_url("tok"), {"password": password}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "already_member"
    assert Membership.all_tenants.get(user=agent_user).role == Role.AGENT
    invite.refresh_from_db()
    assert invite.status == Invite.Status.PENDING


def test_accept_twice_is_409(api_client, tenant):
    make_invite(token="tok", tenant=tenant, email="newbie@example.com")
    assert api_client.post(accept_url("tok"), {"password": NEW_PASSWORD}, format="json").status_code == 200

    again = api_client.post(accept_url("tok"), {"password": NEW_PASSWORD}, format="json")

    assert again.status_code == 409
    assert again.json()["code"] == "invite_not_pending"
    assert api_client.get(accept_url("tok")).status_code == 409
    assert Membership.all_tenants.filter(tenant=tenant).count() == 1


@pytest.mark.parametrize(
    "fields",
    [{"expires_at": timezone.now() - timedelta(seconds=1)}, {"revoked_at": timezone.now()}],
    ids=["expired", "revoked"],
)
def test_accept_expired_or_revoked_is_409(api_client, tenant, fields):
    make_invite(token="tok", tenant=tenant, email="newbie@example.com", **fields)

    info = api_client.get(accept_url("tok"))
    response = api_client.post(accept_url("tok"), {"password": NEW_PASSWORD}, format="json")

    assert info.status_code == response.status_code == 409
    assert info.json()["code"] == response.json()["code"] == "invite_not_pending"
    assert not User.objects.filter(email="newbie@example.com").exists()


def test_accept_with_a_bad_token_is_404(api_client, tenant):
    make_invite(token="tok", tenant=tenant)

    info = api_client.get(accept_url("nope"))
    response = api_client.post(accept_url("nope"), {"password": NEW_PASSWORD}, format="json")

    assert info.status_code == response.status_code == 404
    assert info.json()["code"] == response.json()["code"] == "invite_invalid"
    assert User.objects.count() == 0


def test_invite_of_a_deactivated_tenant_is_invalid(api_client, tenant):
    make_invite(token="tok", tenant=tenant)
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)

    response = api_client.post(accept_url("tok"), {"password": NEW_PASSWORD}, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "invite_invalid"
    assert User.objects.count() == 0


def test_accept_over_the_seat_limit_is_409(api_client, tenant, admin_user, agent_user):
    tenant.max_users = 2
    tenant.save(update_fields=["max_users"])
    invite = make_invite(token="tok", tenant=tenant, email="late@example.com")  # made before the limit shrank

    response = api_client.post(accept_url("tok"), {"password": NEW_PASSWORD}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "seat_limit_reached"
    assert not User.objects.filter(email="late@example.com").exists()
    invite.refresh_from_db()
    assert invite.status == Invite.Status.PENDING


def test_accept_ignores_a_stale_authorization_header(api_client, tenant):
    make_invite(token="tok", tenant=tenant)

    response = api_client.post(
        accept_url("tok"), {"password": NEW_PASSWORD}, format="json", HTTP_AUTHORIZATION="Bearer expired.or.garbage"
    )

    assert response.status_code == 200


def test_end_to_end_invite_and_accept(admin, api_client, tenant, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = admin.post(INVITES, {"email": "e2e@example.com", "role": "supervisor"}, format="json").json()
    token = mailoutbox[0].body.split()[-1].rstrip("/").split("/")[-1]
    assert token == created["token"]

    response = api_client.post(accept_url(token), {"name": "E2E", "password": NEW_PASSWORD}, format="json")

    assert response.status_code == 200
    assert admin.get(f"{INVITES}/{created['id']}").json()["status"] == "accepted"
    listed = {row["email"]: row["role"] for row in admin.get("/api/v1/users").json()["results"]}
    assert listed["e2e@example.com"] == "supervisor"
