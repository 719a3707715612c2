"""Platform plumbing: health check, request ids in logs, API docs served locally, demo seed."""

import io
import json
import logging

import pytest
from django.core.management import call_command

from accounts.models import Membership, Role, User
from config.request_id import LogContextFilter, reset_request_id, set_request_id
from tenants.context import tenant_context
from tenants.demo import DEMO_PASSWORD
from tenants.models import Tenant


def test_healthz_reports_database_and_redis(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_answers_503_naming_redis_when_it_is_down(client, db, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "redis": "down"}


def test_every_response_carries_a_request_id_and_keeps_a_well_formed_incoming_one(client, db):
    generated = client.get("/healthz")
    assert len(generated["X-Request-ID"]) == 32
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="proxy-abc.123")
    assert kept["X-Request-ID"] == "proxy-abc.123"
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")
    assert replaced["X-Request-ID"] != "bad id with spaces"


def test_json_log_lines_carry_request_id_and_tenant(tenant):
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s %(tenant_id)s"))
    logger = logging.getLogger("prosa.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    token = set_request_id("req-42")
    try:
        with tenant_context(tenant):
            logger.warning("ticket accepted")
    finally:
        reset_request_id(token)
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line == {
        "levelname": "WARNING",
        "name": "prosa.test.logs",
        "message": "ticket accepted",
        "request_id": "req-42",
        "tenant_id": tenant.pk,
    }


def test_openapi_schema_lists_the_api_and_swagger_ui_uses_no_cdn(client, db):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/auth/login", "/api/v1/users/", "/api/v1/invites/{token}/accept"):
        assert any(p.rstrip("/") == path.rstrip("/") for p in paths), path
    assert set(schema.json()["components"]["securitySchemes"]) == {"jwtAuth", "cookieAuth"}
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn." not in page and "unpkg" not in page


def test_unknown_api_path_answers_json_404(client, db):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found.", "fields": {}}


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_tenant_once_and_prints_logins():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    tenant = Tenant.objects.get(slug="demo")
    with tenant_context(tenant):
        roles = sorted(Membership.objects.values_list("role", flat=True))
    assert roles == [Role.ADMIN, Role.AGENT, Role.AGENT, Role.SUPERVISOR]
    assert User.objects.get(email="admin@demo.prosa.local").check_password(DEMO_PASSWORD)
    from whatsapp.models import Connection

    call_command("seed_demo", "--graph-url", "http://127.0.0.1:8799", stdout=out)
    with tenant_context(tenant):
        connection = Connection.objects.get()
    assert (connection.provider, connection.api_base_url, connection.is_default) == (
        "cloud",
        "http://127.0.0.1:8799",
        True,
    )
    assert connection.app_secret == "demo-app-secret"
    printed = out.getvalue()
    assert printed.count("admin@demo.prosa.local") == 3
    assert "already there" in printed
    assert f"password: {DEMO_PASSWORD}" in printed


def test_openapi_schema_generates_without_warnings_and_validates(db, tmp_path):
    """Every route must document itself (and never need a tenant to do so)."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/auth/login" in (tmp_path / "schema.yml").read_text()
