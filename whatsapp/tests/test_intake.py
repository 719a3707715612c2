# ruff: noqa: F401, F811 — pytest fixtures imported from whatsapp.tests.inbound_fixtures
"""The ASGI front door for webhook POSTs (whatsapp/intake.py): the same answers as the Django views
(404/413/403/400/200), a 200 only once the row is committed, the verification cache and its
invalidation, and the group-commit writer.

Requests go through config.asgi.application in-process (asgiref's communicator); the writer talks to
the test database over its own psycopg connections, so these tests commit (transactional)."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.utils import timezone

from config.asgi import application
from tickets.models import Message
from whatsapp import intake
from whatsapp.choices import InboundEventStatus, Provider
from whatsapp.inbound import connection_get_for_webhook, inbound_events_enqueue
from whatsapp.models import Connection, InboundEvent
from whatsapp.providers.cloud import signature_for
from whatsapp.tests.conftest import CLOUD_APP_SECRET
from whatsapp.tests.inbound_fixtures import cloud_connection, evolution_connection, webhook_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_intake(transactional_db):
    intake.verifier_cache.clear()
    yield
    intake.writer.drain()  # processing enqueued in the background ends before the tables are emptied
    intake.verifier_cache.clear()


def _variant(body: bytes, n) -> bytes:
    return body.replace(b"chegou", f"chegou {n}".encode())


def _run(coroutine_function, *args, **kwargs):
    """One event loop per test step; the writer's pool and tasks are closed before it ends."""

    async def step():
        try:
            return await coroutine_function(*args, **kwargs)
        finally:
            await intake.writer.close()

    return async_to_sync(step)()


async def _post(path: str, body: bytes, headers=(), *, chunks=None, host=b"testserver"):
    """(status, headers dict, body) of one POST through the ASGI application."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(application, scope)
    parts = chunks if chunks is not None else [body]
    for index, part in enumerate(parts):
        await communicator.send_input({"type": "http.request", "body": part, "more_body": index < len(parts) - 1})
    start = await communicator.receive_output(timeout=10)
    content = b""
    while True:
        message = await communicator.receive_output(timeout=10)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(timeout=5)
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, content


def _signed(body: bytes, app_secret: str = CLOUD_APP_SECRET):
    return [(b"x-hub-signature-256", signature_for(body, app_secret).encode())]


def _events():
    return InboundEvent.all_tenants.all()


def test_the_route_is_the_one_of_the_url_conf(cloud_connection, evolution_connection):
    for connection, provider in ((cloud_connection, "cloud"), (evolution_connection, "evolution")):
        match = intake.ROUTE.match(webhook_url(connection))
        assert match is not None
        assert (match["provider"], match["secret"]) == (provider, connection.webhook_secret)
    assert intake.ROUTE.match(webhook_url(cloud_connection) + "more/") is None


# --- the answers ------------------------------------------------------------------------------------


def test_a_valid_post_is_committed_before_200_then_processed(cloud_connection, payload):
    body = payload("cloud/text")
    status, headers, content = _run(_post, webhook_url(cloud_connection), body, _signed(body))
    assert (status, content) == (200, b"")
    assert headers["x-request-id"]
    event = _events().get()  # visible to another connection: committed before the answer
    assert bytes(event.body) == body
    assert (event.connection_id, event.tenant_id, event.provider) == (
        cloud_connection.pk,
        cloud_connection.tenant_id,
        Provider.CLOUD,
    )
    assert event.content_type == "application/json"
    assert event.dedupe_key == InboundEvent.build_dedupe_key(connection_id=cloud_connection.pk, body=body)
    intake.writer.drain()  # processing was enqueued after the commit (eager Celery in tests)
    event.refresh_from_db()
    assert event.status == InboundEventStatus.PROCESSED
    assert Message.all_tenants.count() == 1


def test_a_wrong_or_missing_signature_is_403_and_nothing_is_stored(cloud_connection, payload):
    body = payload("cloud/text")
    url = webhook_url(cloud_connection)
    for headers in (_signed(body, "another-secret"), [], [(b"x-hub-signature-256", b"sha256=00")]):
        status, _headers, content = _run(_post, url, body, headers)
        assert status == 403
        assert json.loads(content) == {
            "code": "invalid_signature",
            "detail": "The request signature is missing or wrong.",
        }
    tampered = _variant(body, "x")
    assert _run(_post, url, tampered, _signed(body))[0] == 403
    assert _events().count() == 0


def test_an_unknown_secret_is_404_and_nothing_is_stored(cloud_connection, payload):
    body = payload("cloud/text")
    status, _headers, content = _run(_post, webhook_url(cloud_connection, secret="nope"), body, _signed(body))
    assert status == 404
    assert json.loads(content) == {"code": "not_found", "detail": "Not found."}
    # A Cloud secret on the Evolution route is unknown there too.
    evolution_path = webhook_url(cloud_connection).replace("/cloud/", "/evolution/")
    assert _run(_post, evolution_path, body, _signed(body))[0] == 404
    assert _events().count() == 0


def test_a_connection_of_an_inactive_tenant_is_404_as_in_the_view(cloud_connection, payload):
    cloud_connection.tenant.is_active = False
    cloud_connection.tenant.save()
    assert connection_get_for_webhook(provider=Provider.CLOUD, secret=cloud_connection.webhook_secret) is None
    body = payload("cloud/text")
    assert _run(_post, webhook_url(cloud_connection), body, _signed(body))[0] == 404
    assert _events().count() == 0


def test_a_body_over_5_mb_is_413_declared_or_streamed(evolution_connection):
    big = b'{"event": "messages.upsert", "data": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    url = webhook_url(evolution_connection)
    declared = [(b"content-length", str(len(big)).encode())]
    status, _headers, content = _run(_post, url, b"", declared)  # refused before reading the body
    assert status == 413
    assert json.loads(content)["code"] == "payload_too_large"
    half = len(big) // 2
    assert _run(_post, url, b"", [], chunks=[big[:half], big[half:]])[0] == 413
    assert _events().count() == 0


def test_malformed_json_is_400_and_nothing_is_stored(cloud_connection):
    body = b'{"object": "whatsapp_business_account", "entry": ['
    status, _headers, content = _run(_post, webhook_url(cloud_connection), body, _signed(body))
    assert status == 400
    assert json.loads(content) == {"code": "malformed_json", "detail": "The body is not valid JSON."}
    assert _events().count() == 0


def test_evolution_with_the_path_secret_is_stored(evolution_connection, payload):
    body = payload("evolution/text_conversation")
    assert _run(_post, webhook_url(evolution_connection), body)[0] == 200
    event = _events().get()
    assert (event.connection_id, event.provider) == (evolution_connection.pk, Provider.EVOLUTION)


def test_the_same_body_twice_is_one_event_and_both_are_200(cloud_connection, payload):
    body = payload("cloud/text")
    url = webhook_url(cloud_connection)
    assert _run(_post, url, body, _signed(body))[0] == 200
    assert _run(_post, url, body, _signed(body))[0] == 200
    assert _events().count() == 1


def test_other_requests_go_to_django(cloud_connection, payload):
    body = payload("cloud/text")
    # A Host outside ALLOWED_HOSTS: Django's own answer (400), nothing stored.
    assert _run(_post, webhook_url(cloud_connection), body, _signed(body), host=b"evil.example")[0] == 400
    assert _events().count() == 0

    async def get_challenge():
        from channels.testing import HttpCommunicator

        query = "hub.mode=subscribe&hub.verify_token=meu-token-de-verificacao&hub.challenge=1158201444"
        communicator = HttpCommunicator(
            application, "GET", f"{webhook_url(cloud_connection)}?{query}", headers=[(b"host", b"testserver")]
        )
        return await communicator.get_response(timeout=10)

    response = _run(get_challenge)
    assert (response["status"], response["body"]) == (200, b"1158201444")


# --- the cache and its invalidation ----------------------------------------------------------------


def test_the_verification_data_is_cached_then_dropped_when_the_connection_is_saved(cloud_connection, payload):
    url = webhook_url(cloud_connection)
    first = payload("cloud/text")
    assert _run(_post, url, first, _signed(first))[0] == 200
    assert len(intake.verifier_cache) == 1
    cloud_connection.app_secret = "a-new-app-secret"
    cloud_connection.save()
    assert len(intake.verifier_cache) == 0
    second = _variant(first, 2)
    assert _run(_post, url, second, _signed(second))[0] == 403  # signed with the old secret
    assert _run(_post, url, second, _signed(second, "a-new-app-secret"))[0] == 200
    assert _events().count() == 2


def test_a_change_made_elsewhere_is_caught_at_insert_time(cloud_connection, payload):
    """Another process changed the connection (no signal here): the cached data still verifies,
    but the INSERT refuses the row, and the request is checked again against the database."""
    url = webhook_url(cloud_connection)
    body = payload("cloud/text")
    assert _run(_post, url, body, _signed(body))[0] == 200
    assert len(intake.verifier_cache) == 1

    # The app secret rotated elsewhere: the old signature is now 403, nothing stored.
    Connection.all_tenants.filter(pk=cloud_connection.pk).update(app_secret="rotated-secret")
    second = _variant(body, 2)
    assert _run(_post, url, second, _signed(second))[0] == 403
    assert _run(_post, url, second, _signed(second, "rotated-secret"))[0] == 200

    # The tenant was deactivated elsewhere: 404, nothing stored, and the entry is gone.
    type(cloud_connection.tenant).objects.filter(pk=cloud_connection.tenant_id).update(is_active=False)
    third = _variant(body, 3)
    assert _run(_post, url, third, _signed(third, "rotated-secret"))[0] == 404
    assert len(intake.verifier_cache) == 0
    assert _events().count() == 2


def test_cache_entries_expire():
    cache = intake.VerifierCache(ttl=0.05)
    entry = cache.put(
        connection_id=1, tenant_id=2, provider="cloud", webhook_secret="s", app_secret_token="t", adapter=None
    )
    assert cache.get("cloud", "s") is entry
    cache.invalidate(tenant_id=3)
    assert cache.get("cloud", "s") is entry
    entry = cache.put(
        connection_id=1, tenant_id=2, provider="cloud", webhook_secret="s", app_secret_token="t", adapter=None
    )
    entry_expires = entry.expires_at
    import time

    while time.monotonic() <= entry_expires:
        time.sleep(0.01)
    assert cache.get("cloud", "s") is None


# --- the group-commit writer ----------------------------------------------------------------------


def test_the_writer_stores_concurrent_deliveries_in_one_statement_duplicates_included(cloud_connection, payload):
    base = payload("cloud/text")
    bodies = [_variant(base, n) for n in range(20)]
    already = bodies[0]
    assert _run(_post, webhook_url(cloud_connection), already, _signed(already))[0] == 200

    async def store_all():
        verifier = await intake._verifier_for(Provider.CLOUD, cloud_connection.webhook_secret)
        batches_before = intake.writer.batches
        now = timezone.now()
        results = await asyncio.gather(
            *[
                intake.writer.store(verifier=verifier, body=body, content_type="application/json", received_at=now)
                for body in [*bodies, bodies[5]]  # one already stored, one twice in the batch
            ]
        )
        return results, intake.writer.batches - batches_before

    results, batches = _run(store_all)
    assert batches == 1
    assert results[0] is None  # stored by the first request
    assert results[-1] is None  # the same bytes a second time in the batch
    new_ids = [r for r in results if r is not None]
    assert len(new_ids) == len(set(new_ids)) == 19
    assert _events().count() == 20
    assert set(_events().values_list("id", flat=True)) >= set(new_ids)
    intake.writer.drain()
    assert set(_events().values_list("status", flat=True)) == {InboundEventStatus.PROCESSED}


def test_inbound_events_enqueue_hands_every_event_to_the_workers(cloud_connection, payload):
    from tenants.context import tenant_context

    with tenant_context(cloud_connection.tenant):
        ids = [
            InboundEvent.objects.create(
                connection=cloud_connection,
                provider=Provider.CLOUD,
                dedupe_key=f"manual-{n}",
                body=_variant(payload("cloud/text"), n),
            ).pk
            for n in range(3)
        ]
    inbound_events_enqueue(tenant_id=cloud_connection.tenant_id, event_ids=ids)
    assert set(_events().values_list("status", flat=True)) == {InboundEventStatus.PROCESSED}
    inbound_events_enqueue(tenant_id=cloud_connection.tenant_id, event_ids=[])  # nothing to do
