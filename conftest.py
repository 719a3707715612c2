"""Fixtures shared by every test. Tests run against real PostgreSQL and Redis (`make test`)."""

import os

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import PASSWORD, MembershipFactory, UserFactory
from tenants.tests.factories import TenantFactory


def pytest_configure(config):
    from django.conf import settings

    # Tests run with DEBUG off but without `collectstatic`: serve static files from the apps.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    # Tasks run in-process in tests (on_commit callbacks included with
    # django_capture_on_commit_callbacks(execute=True)); a test that needs a real worker starts one.
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    # Argon2 costs ~0.25 s a password; tests that need the real hasher override this.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


# The migrations that write rows (beat schedules, default pipelines): a transactional test empties
# every table when it ends, and the tests after it on the same worker expect the database as
# migrated. tests/test_data_migrations.py checks that this list names every such migration.
DATA_MIGRATIONS = (
    "ai.migrations.0002_summarize_closed_tickets_schedule",
    "campaigns.migrations.0002_beat_schedules",
    "crm.migrations.0004_default_pipelines_and_beat",
    "flows.migrations.0002_beat_schedule",
    "knowledge.migrations.0002_proposals",
    "tickets.migrations.0002_beat_schedules",
    "whatsapp.migrations.0002_retry_inbound_events_schedule",
)


def _restore_migrated_rows(sender, apps=None, **kwargs):
    """After a flush (post_migrate follows it), writes the data migrations' rows again."""
    if sender.label != "django_celery_beat":  # post_migrate comes once per app: act once
        return
    import importlib

    from django.apps import apps as installed_apps
    from django.db.migrations import RunPython

    apps = apps or installed_apps
    for module in DATA_MIGRATIONS:
        for operation in importlib.import_module(module).Migration.operations:
            if isinstance(operation, RunPython):
                operation.code(apps, None)


@pytest.fixture(scope="session", autouse=True)
def _data_migrations_survive_flushes():
    from django.db.models.signals import post_migrate

    post_migrate.connect(_restore_migrated_rows, dispatch_uid="prosa-tests-restore-migrated-rows")
    yield
    post_migrate.disconnect(dispatch_uid="prosa-tests-restore-migrated-rows")


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis database (throttles, cache, channel layer).

    Only the runner (`make test` → config.devserver test) points REDIS_URL at a database reserved for
    tests and says so; anything else could be somebody's real data, so refuse rather than flush it.
    """
    if os.environ.get("PROSA_TEST_REDIS_RESERVED") != "1":
        pytest.exit("Run the tests with `make test` (it reserves a Redis database for them).", returncode=2)
    from config.redis import get_redis

    get_redis().flushdb()
    yield
    # Each test drives sockets on its own event loop; a channel layer keeps loop-bound locks, and
    # one left locked by a consumer cancelled at the end of a test must not reach the next test.
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.fixture
def fake_openai():
    """A fake OpenAI-compatible server on 127.0.0.1 (ai/tests/fakes.py), scripted per test."""
    from ai.tests.fakes import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def ai_on_fake(fake_openai, settings):
    """ai_on_fake(tenant, **fields) → the tenant's AI settings pointed at `fake_openai` (chat model
    "fake-chat"; a loopback provider address, allowed in tests)."""
    from ai.tests.factories import AISettingsFactory

    settings.AI_ALLOW_PRIVATE_PROVIDER_URLS = True

    def _configure(tenant, **fields):
        fields = {"chat_model": "fake-chat", "timeout_seconds": 5, **fields}
        return AISettingsFactory(tenant=tenant, base_url=fake_openai.base_url, api_key=fake_openai.api_key, **fields)

    return _configure


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="shared", name="Shared Co")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(slug="other", name="Other Co")


@pytest.fixture
def make_member(db):
    """make_member(tenant, role="agent", **user_fields) → the user, with an active membership."""

    def _make(tenant, role=Role.AGENT, **user_fields):
        membership = MembershipFactory(tenant=tenant, role=role, user=UserFactory(**user_fields))
        return membership.user

    return _make


@pytest.fixture
def admin_user(tenant, make_member):
    return make_member(tenant, Role.ADMIN)


@pytest.fixture
def supervisor_user(tenant, make_member):
    return make_member(tenant, Role.SUPERVISOR)


@pytest.fixture
def agent_user(tenant, make_member):
    return make_member(tenant, Role.AGENT)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    """client_for(user, tenant) → an APIClient carrying a real JWT access token for that tenant."""
    from accounts.services import tokens_issue

    def _client(user, tenant):
        client = APIClient()
        pair = tokens_issue(user=user, tenant=tenant)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access}")
        client.tokens = pair
        return client

    return _client


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def layer_listener():
    """Channel-layer channels read from a loop of their own (tickets/tests/layer.py)."""
    from tickets.tests.layer import LayerListener

    listener = LayerListener()
    yield listener
    listener.close()
