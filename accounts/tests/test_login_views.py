"""Browser sessions: login (throttled), logout, "forgot password" by email, switching tenants."""

import re

import pytest
from django.core import mail

from accounts.models import Role
from accounts.tests.factories import PASSWORD, MembershipFactory, UserFactory
from tenants.selectors import SESSION_TENANT_KEY
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(tenant, make_member):
    return make_member(tenant, Role.AGENT, email="ana@example.com", name="Ana")


def test_the_login_page_renders_with_a_forgot_password_link(client):
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html and 'type="email"' in html and 'name="password"' in html
    assert 'href="/password-reset/"' in html


def test_logging_in_enters_the_inbox(client, agent):
    response = client.post("/login/", {"username": "ANA@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/inbox/"
    assert client.get("/inbox/").status_code == 200
    # Already logged in: the login page sends people on.
    assert client.get("/login/")["Location"] == "/inbox/"


def test_login_honours_a_safe_next_only(client, agent):
    response = client.post("/login/?next=/inbox/tickets/", {"username": agent.email, "password": PASSWORD})
    assert response["Location"] == "/inbox/tickets/"
    client.logout()
    response = client.post("/login/?next=https://evil.example/", {"username": agent.email, "password": PASSWORD})
    assert response["Location"] == "/inbox/"


def test_a_wrong_password_is_said_in_words_and_throttled(client, agent, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    for _ in range(2):
        response = client.post("/login/", {"username": agent.email, "password": "wrong"})
        assert response.status_code == 200
        assert "That email and password do not match an account." in response.content.decode()
    blocked = client.post("/login/", {"username": agent.email, "password": PASSWORD})
    assert blocked.status_code == 200
    assert "Too many failed attempts" in blocked.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(client, agent):
    client.force_login(agent)
    assert client.get("/logout/").status_code == 405  # only POST logs out (no logout by a link)
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/inbox/").status_code == 302


def test_forgot_password_sends_a_working_link(client, agent, settings):
    settings.PUBLIC_URL = "https://prosa.example.com"
    response = client.post("/password-reset/", {"email": "ana@example.com"})
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ana@example.com"]
    assert message.subject == "Reset your Prosa password"
    link = re.search(r"https://prosa\.example\.com(/reset-password/\S+/\S+/)", message.body).group(1)

    form = client.get(link, follow=True)
    assert form.status_code == 200 and 'name="new_password1"' in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "Brand-New-Pass-77", "new_password2": "Brand-New-Pass-77"}
    )
    assert done.status_code == 302 and done["Location"] == "/reset-password/done/"
    client.logout()
    login = client.post("/login/", {"username": "ana@example.com", "password": "Brand-New-Pass-77"})
    assert login["Location"] == "/inbox/"


def test_forgot_password_says_the_same_for_an_unknown_address(client, db):
    response = client.post("/password-reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert mail.outbox == []


def test_a_used_or_forged_link_is_refused_in_words(client, agent):
    response = client.get("/reset-password/MQ/not-a-token/", follow=True)
    assert "This link no longer works" in response.content.decode()


def test_members_of_several_tenants_switch_between_them(client, tenant, agent):
    second = TenantFactory(slug="segunda", name="Segunda Loja")
    MembershipFactory(tenant=second, user=agent, role=Role.ADMIN)
    client.force_login(agent)
    page = client.get("/inbox/").content.decode()
    assert 'name="tenant"' in page and "Segunda Loja" in page and "Shared Co" in page

    response = client.post("/switch-tenant/", {"tenant": second.pk, "next": "/inbox/"})
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    assert client.session[SESSION_TENANT_KEY] == second.pk
    assert 'value="all"' in client.get("/inbox/").content.decode()  # admin there: staff tabs

    stranger = TenantFactory(slug="alheia", name="Alheia")
    assert client.post("/switch-tenant/", {"tenant": stranger.pk}).status_code == 404
    for garbage in ("", "abc", "1; DROP TABLE x", "9" * 25):  # not an id: no such workspace, no error
        assert client.post("/switch-tenant/", {"tenant": garbage}).status_code == 404
    assert client.session[SESSION_TENANT_KEY] == second.pk
    unsafe = client.post("/switch-tenant/", {"tenant": tenant.pk, "next": "https://evil.example/"})
    assert unsafe["Location"] == "/inbox/"


def test_switching_needs_a_login(client, tenant):
    assert client.post("/switch-tenant/", {"tenant": tenant.pk})["Location"] == "/login/"


def test_a_single_tenant_user_sees_no_switcher(client, agent):
    client.force_login(agent)
    assert 'name="tenant"' not in client.get("/inbox/").content.decode()


def test_the_root_goes_to_the_inbox(client):
    assert client.get("/")["Location"] == "/inbox/"


def test_inactive_membership_is_not_a_way_in(client, tenant):
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, is_active=False)
    client.force_login(user)
    assert client.get("/inbox/").status_code == 403
