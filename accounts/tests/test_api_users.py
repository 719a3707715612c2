"""/api/v1/users: members of the current workspace, and what admins may do to them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Role, User
from accounts.tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users"
NEW_PASSWORD = "Brand-New-Secret-77"


@pytest.fixture(autouse=True)
def _locmem_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def detail(user) -> str:
    return f"{USERS}/{user.pk}"


def action(user, name) -> str:
    return f"{USERS}/{user.pk}/{name}"


def membership_of(user, tenant) -> Membership:
    return Membership.all_tenants.get(user=user, tenant=tenant)


@pytest.fixture
def admin(admin_user, tenant, client_for):
    return client_for(admin_user, tenant)


@pytest.fixture
def outsider(other_tenant, make_member):
    """A member of another workspace only."""
    return make_member(other_tenant, Role.ADMIN)


# --- List and detail ---------------------------------------------------------


def test_agent_lists_members_of_their_tenant_only(tenant, agent_user, admin_user, outsider, client_for):
    inactive = MembershipFactory(tenant=tenant, is_active=False).user

    response = client_for(agent_user, tenant).get(USERS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    ids = {row["id"] for row in body["results"]}
    assert ids == {agent_user.pk, admin_user.pk, inactive.pk}
    assert outsider.pk not in ids
    row = next(row for row in body["results"] if row["id"] == agent_user.pk)
    assert set(row) == {"id", "email", "name", "avatar", "role", "is_active", "joined_at", "last_login"}
    assert (row["email"], row["role"], row["is_active"]) == (agent_user.email, "agent", True)


def test_list_is_ordered_by_name(tenant, make_member, client_for):
    for name in ("Carla", "Ana", "Bruno"):
        make_member(tenant, name=name)
    viewer = make_member(tenant, name="Zeca")

    names = [row["name"] for row in client_for(viewer, tenant).get(USERS).json()["results"]]

    assert names == ["Ana", "Bruno", "Carla", "Zeca"]


def test_list_filters_and_search(tenant, make_member, client_for, admin_user):
    ana = make_member(tenant, Role.SUPERVISOR, name="Ana Souza", email="ana@acme.test")
    MembershipFactory(tenant=tenant, is_active=False, user=UserFactory(name="Old Timer"))
    client = client_for(admin_user, tenant)

    supervisors = client.get(USERS, {"role": "supervisor"}).json()["results"]
    inactive = client.get(USERS, {"is_active": "false"}).json()["results"]
    found = client.get(USERS, {"search": "acme.test"}).json()["results"]

    assert [row["id"] for row in supervisors] == [ana.pk]
    assert [row["name"] for row in inactive] == ["Old Timer"]
    assert [row["id"] for row in found] == [ana.pk]


def test_detail(tenant, agent_user, supervisor_user, client_for):
    response = client_for(agent_user, tenant).get(detail(supervisor_user) + "/")

    assert response.status_code == 200
    assert response.json()["id"] == supervisor_user.pk
    assert response.json()["role"] == "supervisor"


def test_user_of_another_tenant_is_404_on_detail_and_every_action(admin, outsider, other_tenant):
    before = membership_of(outsider, other_tenant)

    responses = [
        admin.get(detail(outsider)),
        admin.patch(detail(outsider), {"name": "Hacked"}, format="json"),
        admin.post(action(outsider, "deactivate")),
        admin.post(action(outsider, "activate")),
        admin.post(action(outsider, "role"), {"role": "agent"}, format="json"),
        admin.post(action(outsider, "reset-password")),
    ]

    for response in responses:
        assert response.status_code == 404, response.request["PATH_INFO"]
        assert response.json()["code"] == "not_found"
    after = membership_of(outsider, other_tenant)
    assert (after.role, after.is_active) == (before.role, before.is_active)
    outsider.refresh_from_db()
    assert outsider.name != "Hacked"


def test_unknown_user_id_is_404(admin):
    assert admin.get(f"{USERS}/999999").status_code == 404
    assert admin.get(f"{USERS}/not-a-number").status_code == 404


def test_anonymous_is_401(api_client, agent_user):
    for response in (
        api_client.get(USERS),
        api_client.get(detail(agent_user)),
        api_client.post(action(agent_user, "deactivate")),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


# --- Permission matrix for admin actions ------------------------------------


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
@pytest.mark.parametrize(
    "name, body",
    [("deactivate", None), ("activate", None), ("role", {"role": "admin"}), ("reset-password", None)],
)
def test_non_admins_cannot_manage_members(tenant, make_member, client_for, role, name, body, mailoutbox):
    actor = make_member(tenant, role)
    target = make_member(tenant, Role.AGENT)

    response = client_for(actor, tenant).post(action(target, name), body, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    membership = membership_of(target, tenant)
    assert (membership.role, membership.is_active) == (Role.AGENT, True)
    assert mailoutbox == []


# --- Update ------------------------------------------------------------------


def test_member_updates_own_name(tenant, agent_user, client_for):
    response = client_for(agent_user, tenant).patch(detail(agent_user), {"name": "Ana B."}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "Ana B."
    agent_user.refresh_from_db()
    assert agent_user.name == "Ana B."


def test_member_cannot_update_someone_else(tenant, agent_user, supervisor_user, client_for):
    name = supervisor_user.name

    response = client_for(agent_user, tenant).patch(detail(supervisor_user), {"name": "Nope"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    supervisor_user.refresh_from_db()
    assert supervisor_user.name == name


def test_admin_updates_someone_else_but_not_role_or_status_through_update(admin, tenant, agent_user):
    response = admin.put(detail(agent_user), {"name": "Renamed", "role": "admin", "is_active": False}, format="json")

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["role"], response.json()["is_active"]) == (
        "Renamed",
        "agent",
        True,
    )
    membership = membership_of(agent_user, tenant)
    assert (membership.user.name, membership.role, membership.is_active) == ("Renamed", Role.AGENT, True)


# --- Deactivate / activate ---------------------------------------------------


def test_admin_deactivates_and_activates_a_member(admin, tenant, agent_user, client_for):
    agent_client = client_for(agent_user, tenant)

    response = admin.post(action(agent_user, "deactivate"))

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert membership_of(agent_user, tenant).is_active is False
    assert User.objects.get(pk=agent_user.pk).is_active is True  # the person, elsewhere, is untouched
    assert agent_client.get("/api/v1/auth/me").status_code == 401

    response = admin.post(action(agent_user, "activate"))

    assert response.status_code == 200
    assert response.json()["is_active"] is True
    assert membership_of(agent_user, tenant).is_active is True
    assert agent_client.get("/api/v1/auth/me").status_code == 200


def test_deactivate_is_idempotent(admin, tenant, agent_user):
    admin.post(action(agent_user, "deactivate"))

    response = admin.post(action(agent_user, "deactivate"))

    assert response.status_code == 200
    assert membership_of(agent_user, tenant).is_active is False


def test_deactivate_only_touches_this_tenant(admin, tenant, other_tenant, agent_user):
    MembershipFactory(tenant=other_tenant, user=agent_user)

    admin.post(action(agent_user, "deactivate"))

    assert membership_of(agent_user, tenant).is_active is False
    assert membership_of(agent_user, other_tenant).is_active is True


def test_admin_cannot_deactivate_self(admin, tenant, admin_user):
    response = admin.post(action(admin_user, "deactivate"))

    assert response.status_code == 409
    assert response.json()["code"] == "cannot_change_self"
    assert membership_of(admin_user, tenant).is_active is True


def test_admin_deactivates_another_admin(admin, tenant, make_member):
    other_admin = make_member(tenant, Role.ADMIN)

    response = admin.post(action(other_admin, "deactivate"))

    assert response.status_code == 200
    assert membership_of(other_admin, tenant).is_active is False


def test_activate_over_seat_limit_is_409(admin, tenant, agent_user, make_member):
    admin.post(action(agent_user, "deactivate"))
    make_member(tenant)  # takes the freed seat
    tenant.max_users = 2
    tenant.save(update_fields=["max_users"])

    response = admin.post(action(agent_user, "activate"))

    assert response.status_code == 409
    assert response.json()["code"] == "seat_limit_reached"
    assert "2" in response.json()["detail"]
    assert membership_of(agent_user, tenant).is_active is False


def test_activate_an_active_member_needs_no_seat(admin, tenant, agent_user):
    tenant.max_users = 2  # admin + agent: full
    tenant.save(update_fields=["max_users"])

    response = admin.post(action(agent_user, "activate"))

    assert response.status_code == 200
    assert response.json()["is_active"] is True


# --- Roles -------------------------------------------------------------------


def test_admin_changes_a_role(admin, tenant, agent_user, client_for):
    response = admin.post(action(agent_user, "role"), {"role": "supervisor"}, format="json")

    assert response.status_code == 200
    assert response.json()["role"] == "supervisor"
    assert membership_of(agent_user, tenant).role == Role.SUPERVISOR
    assert client_for(agent_user, tenant).get("/api/v1/auth/me").json()["role"] == "supervisor"


def test_admin_demotes_another_admin(admin, tenant, make_member):
    other_admin = make_member(tenant, Role.ADMIN)

    response = admin.post(action(other_admin, "role"), {"role": "agent"}, format="json")

    assert response.status_code == 200
    assert membership_of(other_admin, tenant).role == Role.AGENT


def test_admin_cannot_change_own_role(admin, tenant, admin_user):
    response = admin.post(action(admin_user, "role"), {"role": "agent"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "cannot_change_self"
    assert membership_of(admin_user, tenant).role == Role.ADMIN


def test_setting_own_role_to_the_same_value_is_a_no_op(admin, tenant, admin_user):
    response = admin.post(action(admin_user, "role"), {"role": "admin"}, format="json")

    assert response.status_code == 200
    assert membership_of(admin_user, tenant).role == Role.ADMIN


@pytest.mark.parametrize("body", [{"role": "owner"}, {}, {"role": ""}])
def test_invalid_role_is_400(admin, tenant, agent_user, body):
    response = admin.post(action(agent_user, "role"), body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == ["role"]
    assert membership_of(agent_user, tenant).role == Role.AGENT


# --- Password reset by an admin ---------------------------------------------


def test_admin_reset_password_link_works(
    admin, api_client, tenant, agent_user, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    agent_session = client_for(agent_user, tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(action(agent_user, "reset-password"))

    assert response.status_code == 200
    link = response.json()["link"]
    assert "/reset-password/" in link
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [agent_user.email]
    assert link in mailoutbox[0].body

    uid, token = link.rstrip("/").split("/")[-2:]
    confirmed = api_client.post(
        "/api/v1/auth/password-reset/confirm", {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json"
    )

    assert confirmed.status_code == 204
    agent_user.refresh_from_db()
    assert agent_user.check_password(NEW_PASSWORD)
    assert agent_session.get("/api/v1/auth/me").status_code == 401


@pytest.mark.parametrize("shared_how", ["other_membership", "superuser"])
def test_admin_reset_of_a_shared_account_is_only_emailed(
    admin, tenant, other_tenant, make_member, mailoutbox, django_capture_on_commit_callbacks, shared_how
):
    """An admin of one workspace must not get a link to an account that also opens other
    workspaces (or the whole platform): the owner gets it by e-mail only."""
    target = make_member(tenant, Role.AGENT)
    if shared_how == "other_membership":
        MembershipFactory(tenant=other_tenant, user=target, role=Role.ADMIN)
    else:
        User.objects.filter(pk=target.pk).update(is_superuser=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(action(target, "reset-password"))

    assert response.status_code == 200
    assert response.json() == {"link": None}
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [target.email]


# --- Query budgets -----------------------------------------------------------


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_users_list_query_count_does_not_grow_with_rows(
    tenant, admin_user, make_member, client_for, django_assert_num_queries
):
    client = client_for(admin_user, tenant)
    for _ in range(2):
        make_member(tenant)
    few = _count_queries(client, USERS)

    for _ in range(15):
        make_member(tenant)
    # authentication (the token's membership with its user and tenant), COUNT, page of members with their users
    with django_assert_num_queries(3):
        response = client.get(USERS)

    assert response.json()["count"] == 18
    assert few == 3
