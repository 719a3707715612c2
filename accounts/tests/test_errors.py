"""Every API error is JSON `{"code", "detail", "fields"}`, whatever raised it."""

import json

import pytest
from django.test import RequestFactory
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.exceptions import EmailTaken, LoginThrottled
from config.api.exceptions import api_server_error_or_html, exception_handler
from config.errors import ProsaError

pytestmark = pytest.mark.django_db

SHAPE = {"code", "detail", "fields"}


def assert_error(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == SHAPE
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["fields"], dict)
    return body


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/whatever", "/api/v1/whatever/deeper/", "/api/v2/users", "/api/"])
def test_unknown_api_path_is_json_404(api_client, method, path):
    body = assert_error(getattr(api_client, method)(path), 404, "not_found")

    assert body == {"code": "not_found", "detail": "Not found.", "fields": {}}


def test_unknown_api_path_is_404_for_authenticated_clients_too(tenant, agent_user, client_for):
    assert_error(client_for(agent_user, tenant).get("/api/v1/whatever"), 404, "not_found")


def test_malformed_json_is_400_parse_error(api_client):
    response = api_client.post("/api/v1/auth/login", '{"email": "a@example.com",', content_type="application/json")

    body = assert_error(response, 400, "parse_error")
    assert body["fields"] == {}


def test_malformed_json_on_an_authenticated_endpoint(tenant, agent_user, client_for):
    response = client_for(agent_user, tenant).patch("/api/v1/auth/me", "{nope", content_type="application/json")

    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize(
    "method, path",
    [("delete", "/api/v1/auth/login"), ("get", "/api/v1/auth/logout"), ("put", "/api/v1/auth/register")],
)
def test_method_not_allowed_is_405(api_client, method, path):
    assert_error(getattr(api_client, method)(path), 405, "method_not_allowed")


def test_method_not_allowed_on_a_router_route(tenant, admin_user, client_for):
    response = client_for(admin_user, tenant).delete(f"/api/v1/users/{admin_user.pk}")

    assert_error(response, 405, "method_not_allowed")


def test_unsupported_media_type_is_415(api_client):
    response = api_client.post("/api/v1/auth/login", "email=a", content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")


def test_validation_errors_list_fields(api_client):
    response = api_client.post("/api/v1/auth/login", {"email": "not-an-email"}, format="json")

    body = assert_error(response, 400, "invalid")
    assert body["detail"] == "Invalid input."
    assert set(body["fields"]) == {"email", "password"}
    assert all(isinstance(message, str) for messages in body["fields"].values() for message in messages)


def test_not_authenticated_is_401_with_challenge(api_client):
    response = api_client.get("/api/v1/users")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_garbage_bearer_token_is_401(api_client):
    response = api_client.get("/api/v1/users", HTTP_AUTHORIZATION="Bearer garbage")

    body = assert_error(response, 401, "token_not_valid")
    assert body["fields"] == {}


def test_permission_denied_is_403(tenant, agent_user, client_for):
    assert_error(client_for(agent_user, tenant).get("/api/v1/invites"), 403, "permission_denied")


def test_domain_error_keeps_its_code_and_fields(api_client, agent_user):
    response = api_client.post(
        "/api/v1/auth/register",
        {"email": agent_user.email, "password": "Sturdy-Password-91", "name": "X", "tenant_name": "X"},
        format="json",
    )

    body = assert_error(response, 409, "email_taken")
    assert body["fields"] == {"email": ["An account with this email already exists."]}


# --- The handler itself -----------------------------------------------------


def test_handler_renders_prosa_errors():
    response = exception_handler(EmailTaken(fields={"email": ["taken"]}), {})

    assert response.status_code == 409
    assert response.data == {
        "code": "email_taken",
        "detail": "An account with this email already exists.",
        "fields": {"email": ["taken"]},
    }


def test_handler_sets_retry_after_for_login_throttle():
    response = exception_handler(LoginThrottled(retry_after=42), {})

    assert response.status_code == 429
    assert response["Retry-After"] == "42"
    assert response.data["code"] == "login_throttled"


def test_handler_keeps_an_explicit_code_given_to_a_drf_exception():
    response = exception_handler(exceptions.AuthenticationFailed("Nope.", code="no_active_membership"), {})

    assert response.status_code == 401
    assert response.data == {"code": "no_active_membership", "detail": "Nope.", "fields": {}}


def test_handler_uses_the_class_code_otherwise():
    assert exception_handler(exceptions.AuthenticationFailed(), {}).data["code"] == "authentication_failed"
    assert exception_handler(exceptions.NotFound(), {}).data["code"] == "not_found"
    assert exception_handler(exceptions.Throttled(wait=3.2), {})["Retry-After"] == "4"


def test_handler_renders_simplejwt_errors():
    response = exception_handler(InvalidToken({"detail": "Token has been revoked.", "code": "token_revoked"}), {})

    assert response.status_code == 401
    assert response.data == {"code": "token_revoked", "detail": "Token has been revoked.", "fields": {}}


def test_handler_renders_non_field_validation_errors():
    exc = exceptions.ValidationError({"non_field_errors": ["Passwords differ."], "name": ["Too long."]})

    response = exception_handler(exc, {})

    assert response.data == {"code": "invalid", "detail": "Passwords differ.", "fields": {"name": ["Too long."]}}


def test_handler_renders_list_validation_errors():
    response = exception_handler(exceptions.ValidationError(["First.", "Second."]), {})

    assert response.data == {"code": "invalid", "detail": "First.", "fields": {}}


def test_handler_renders_a_generic_prosa_error_status():
    response = exception_handler(ProsaError("Boom."), {})

    assert (response.status_code, response.data["code"], response.data["detail"]) == (400, "error", "Boom.")


def test_handler_leaves_unexpected_exceptions_to_django():
    assert exception_handler(RuntimeError("bug"), {}) is None


def test_server_error_is_json_under_api():
    response = api_server_error_or_html(RequestFactory().get("/api/v1/users"))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["code"] == "server_error"


def test_server_error_is_html_elsewhere():
    response = api_server_error_or_html(RequestFactory().get("/admin/"))

    assert response.status_code == 500
    assert not response["Content-Type"].startswith("application/json")
