"""A password set through the browser's "forgot password" link ends the user's API sessions too."""

import re

import pytest
from django.core import mail

from accounts.models import Role

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"
NEW_PASSWORD = "Brand-New-Pass-77"


def test_a_web_password_reset_revokes_the_api_tokens(client, api_client, tenant, make_member, client_for):
    user = make_member(tenant, Role.AGENT, email="ana@example.com")
    api = client_for(user, tenant)
    assert api.get(ME).status_code == 200

    client.post("/password-reset/", {"email": "ana@example.com"})
    link = re.search(r"(/reset-password/\S+/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/reset-password/done/"

    assert api.get(ME).status_code == 401
    assert api_client.post(REFRESH, {"refresh": api.tokens.refresh}, format="json").status_code == 401


def test_a_refused_new_password_revokes_nothing(client, api_client, tenant, make_member, client_for):
    user = make_member(tenant, Role.AGENT, email="ana@example.com")
    api = client_for(user, tenant)

    client.post("/password-reset/", {"email": "ana@example.com"})
    link = re.search(r"(/reset-password/\S+/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    refused = client.post(form.redirect_chain[-1][0], {"new_password1": "123", "new_password2": "123"})
    assert refused.status_code == 200

    user.refresh_from_db()
    assert user.tokens_valid_after is None
    assert api.get(ME).status_code == 200
    assert api_client.post(REFRESH, {"refresh": api.tokens.refresh}, format="json").status_code == 200
