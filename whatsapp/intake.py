"""The fast front door for provider webhook POSTs under ASGI: the same contract as whatsapp.webhooks,
without Django's request cycle and with one database commit for many concurrent deliveries.

Why (docs/PERFORMANCE.md, "Webhook intake"): under ASGI a Django view costs ~3–5 ms of CPU per
request before it does anything — each sync middleware and the view run through asgiref's thread
hop, the connection is looked up through the ORM (decrypting every credential), a new PostgreSQL
connection is opened per request and each request pays its own commit (WAL flush). Here a POST to
`/webhooks/whatsapp/<provider>/<secret>/` is handled on the event loop:

1. the connection's verification data (id, tenant, provider, decrypted app secret) comes from a
   per-process cache (`VerifierCache`, a short TTL, dropped at once when a connection or tenant is
   saved in this process);
2. the checks of whatsapp.webhooks, in the same order and with the same answers: 404 unknown
   secret, 413 over 5 MB (before reading when declared), 403 bad signature (HMAC over the raw
   bytes, constant time), 400 not JSON — nothing stored in any of these cases;
3. `InboundEventWriter` (group commit) inserts the rows of every request waiting at that moment in
   ONE autocommit `INSERT … SELECT … ON CONFLICT (dedupe_key) DO NOTHING` through an async psycopg
   pool; each request is answered 200 only after the statement that stored its row has committed;
4. after the commit, processing is enqueued once per batch and tenant
   (`whatsapp.inbound.inbound_events_enqueue`), off the event loop.

The cache can never make a request succeed that the database would refuse: the INSERT joins every
row to its connection and tenant and stores it only if the webhook secret, provider and app secret
(its stored ciphertext) are still those the request was verified with and the tenant is active. A
row refused that way is not a duplicate: the cache entry is dropped, the request looked up and
verified again from the database (→ 404/403, or stored).

Everything else — GET verification, other methods, other paths, a Host outside ALLOWED_HOSTS — goes
to Django unchanged. The sync views in whatsapp.webhooks keep serving WSGI and the test client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http.request import split_domain_port, validate_host
from django.utils import timezone

from config.request_id import reset_request_id, set_request_id
from tenants.models import Tenant
from whatsapp.choices import InboundEventStatus, Provider
from whatsapp.fields import FieldDecryptionError, decrypt_str
from whatsapp.inbound import MAX_BODY_BYTES
from whatsapp.models import Connection, InboundEvent
from whatsapp.providers import get_adapter

logger = logging.getLogger("whatsapp.webhooks")

# The paths of whatsapp/urls.py under config/urls.py (pinned by whatsapp/tests/test_intake.py).
ROUTE = re.compile(r"^/webhooks/whatsapp/(?P<provider>cloud|evolution)/(?P<secret>[^/]+)/$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Request ids without a urandom call per request: a random prefix per process and a counter.
_REQUEST_ID_PREFIX = uuid.uuid4().hex[:16]
_request_serial = itertools.count(1)


# --- what verification needs, per process -----------------------------------------------------------


@dataclass(frozen=True)
class WebhookVerifier:
    """A connection as the webhook check sees it. `app_secret_token` is the column's stored Fernet
    token: the writer stores a row only while the database still holds exactly these values."""

    connection_id: int
    tenant_id: int
    provider: str
    webhook_secret: str
    app_secret_token: str
    adapter: object
    expires_at: float

    def verify(self, *, headers: dict[str, str], body: bytes, secret: str) -> bool:
        return self.adapter.verify_webhook(headers=headers, body=body, query={}, secret=secret)


class VerifierCache:
    """(provider, URL secret) → WebhookVerifier for `ttl` seconds. Unknown secrets are not cached
    (each costs a query, as before)."""

    def __init__(self, ttl: float | None = None) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str], WebhookVerifier] = {}

    def _ttl(self) -> float:
        return self.ttl if self.ttl is not None else getattr(settings, "WHATSAPP_WEBHOOK_CACHE_SECONDS", 30)

    def get(self, provider: str, secret: str) -> WebhookVerifier | None:
        entry = self._entries.get((provider, secret))
        if entry is not None and entry.expires_at <= time.monotonic():
            self._entries.pop((provider, secret), None)
            return None
        return entry

    def put(self, **fields) -> WebhookVerifier:
        """Caches the verifier of a connection found by its webhook secret (the key)."""
        entry = WebhookVerifier(**fields, expires_at=time.monotonic() + self._ttl())
        if self._ttl() > 0:
            self._entries[(entry.provider, entry.webhook_secret)] = entry
        return entry

    def discard(self, entry: WebhookVerifier) -> None:
        if self._entries.get((entry.provider, entry.webhook_secret)) is entry:
            del self._entries[(entry.provider, entry.webhook_secret)]

    def invalidate(self, *, connection_id: int | None = None, tenant_id: int | None = None) -> None:
        for key, entry in list(self._entries.items()):
            if entry.connection_id == connection_id or entry.tenant_id == tenant_id:
                self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


verifier_cache = VerifierCache()


@receiver(post_save, sender=Connection, dispatch_uid="whatsapp.intake.connection_saved")
@receiver(post_delete, sender=Connection, dispatch_uid="whatsapp.intake.connection_deleted")
def _connection_changed(sender, instance, **kwargs):
    verifier_cache.invalidate(connection_id=instance.pk)


@receiver(post_save, sender=Tenant, dispatch_uid="whatsapp.intake.tenant_saved")
@receiver(post_delete, sender=Tenant, dispatch_uid="whatsapp.intake.tenant_deleted")
def _tenant_changed(sender, instance, **kwargs):
    verifier_cache.invalidate(tenant_id=instance.pk)


# --- the database side --------------------------------------------------------------------------


def _conninfo() -> dict:
    """psycopg connect() arguments of Django's default database (the test database under tests)."""
    from django.db import connections

    params = connections["default"].get_connection_params()
    keep = {"dbname", "user", "password", "host", "port", "sslmode", "sslrootcert", "sslcert", "sslkey", "options"}
    return {key: value for key, value in params.items() if key in keep and value not in (None, "")}


class _Stale(Exception):
    """The connection changed since its verification data was cached."""


@dataclass
class _Pending:
    verifier: WebhookVerifier
    dedupe_key: str
    body: bytes
    content_type: str
    received_at: object
    future: asyncio.Future


class _Statements(NamedTuple):
    lookup: str
    insert: str
    existing: str


@functools.cache
def _sql() -> _Statements:
    """Built once, after the apps are loaded (table names from the models)."""
    conn, tenant, event = Connection._meta.db_table, Tenant._meta.db_table, InboundEvent._meta.db_table
    return _Statements(
        # The rule of inbound.connection_get_for_webhook (pinned by a test): secret, provider, active tenant.
        lookup=(
            f'SELECT c.id, c.tenant_id, c.provider, c.webhook_secret, c.app_secret FROM "{conn}" c '  # noqa: S608
            f'JOIN "{tenant}" t ON t.id = c.tenant_id '
            "WHERE c.webhook_secret = %s AND c.provider = %s AND t.is_active LIMIT 1"
        ),
        # One row per delivery, stored only while its connection still matches what verified it.
        insert=(
            f'INSERT INTO "{event}" (tenant_id, connection_id, provider, dedupe_key, body, content_type, '  # noqa: S608
            "status, error, attempts, received_at) "
            "SELECT c.tenant_id, c.id, c.provider, v.dedupe_key, v.body, v.content_type, %s, '', 0, v.received_at "
            # %b: arrays in binary (no per-element quoting, bodies not hex-escaped).
            "FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bytea[], %b::text[], "
            "%b::timestamptz[]) AS v(connection_id, provider, webhook_secret, app_secret, dedupe_key, body, "
            "content_type, received_at) "
            f'JOIN "{conn}" c ON c.id = v.connection_id AND c.provider = v.provider '
            "AND c.webhook_secret = v.webhook_secret AND c.app_secret = v.app_secret "
            f'JOIN "{tenant}" t ON t.id = c.tenant_id AND t.is_active '
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key, tenant_id"
        ),
        existing=f'SELECT dedupe_key FROM "{event}" WHERE dedupe_key = ANY(%s::text[])',  # noqa: S608
    )


class InboundEventWriter:
    """Group commit of webhook deliveries. `store()` waits until its row is committed (or found to
    be a duplicate) while a few writer tasks each take every delivery queued at that moment (up to
    `max_batch`) into one statement — so the commits per second stay bounded while the requests
    per second grow, and no request waits for a timer."""

    def __init__(self, *, writers: int | None = None, max_batch: int = 500) -> None:
        self.writers = writers or getattr(settings, "WHATSAPP_INTAKE_WRITERS", 2)
        self.max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool = None
        self._queue: asyncio.Queue[_Pending] | None = None
        self._tasks: list[asyncio.Task] = []
        self._enqueuer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-enqueue")
        self._enqueued: list[concurrent.futures.Future] = []
        self.batches = 0
        self.rows = 0

    async def _ready(self):
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new loop (tests run one per test)
            from psycopg_pool import AsyncConnectionPool

            self._loop, self._queue = loop, asyncio.Queue()
            self._pool = AsyncConnectionPool(
                kwargs={**_conninfo(), "autocommit": True},
                min_size=1,
                max_size=self.writers + 2,
                timeout=5,  # database unreachable: 503 after 5 s (the provider retries), not a hung request
                open=False,
                name="whatsapp-intake",
            )
            await self._pool.open()
            self._tasks = [loop.create_task(self._run()) for _ in range(self.writers)]
        return self._pool

    async def close(self) -> None:
        """Stops the writer tasks and closes the pool (tests; servers just exit)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._pool is not None:
            await self._pool.close()
        self._loop = self._pool = self._queue = None
        self._tasks = []

    def drain(self, timeout: float = 30) -> None:
        """Waits for the enqueueing already handed to the background thread (tests)."""
        self._enqueuer.submit(lambda: None).result(timeout)

    async def lookup(self, *, provider: str, secret: str) -> tuple | None:
        pool = await self._ready()
        async with pool.connection() as conn:
            cursor = await conn.execute(_sql().lookup, [secret, provider])
            return await cursor.fetchone()

    async def store(self, *, verifier: WebhookVerifier, body: bytes, content_type: str, received_at) -> int | None:
        """The new event's id once committed; None for a delivery already stored. Raises `_Stale`
        when the connection no longer matches `verifier`."""
        await self._ready()
        future = self._loop.create_future()
        dedupe_key = InboundEvent.build_dedupe_key(connection_id=verifier.connection_id, body=body)
        self._queue.put_nowait(_Pending(verifier, dedupe_key, body, content_type[:100], received_at, future))
        return await future

    async def _run(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 — a failed batch fails its requests (500), not the writer
                logger.error("webhook batch could not be stored", extra={"size": len(batch)}, exc_info=exc)
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    async def _write(self, batch: list[_Pending]) -> None:
        statements = _sql()
        by_key: dict[str, list[_Pending]] = {}
        for item in batch:  # the same bytes twice in one batch: one row, the first is "new"
            by_key.setdefault(item.dedupe_key, []).append(item)
        firsts = [items[0] for items in by_key.values()]
        columns = [
            [i.verifier.connection_id for i in firsts],
            [i.verifier.provider for i in firsts],
            [i.verifier.webhook_secret for i in firsts],
            [i.verifier.app_secret_token for i in firsts],
            [i.dedupe_key for i in firsts],
            [i.body for i in firsts],
            [i.content_type for i in firsts],
            [i.received_at for i in firsts],
        ]
        async with self._pool.connection() as conn:
            cursor = await conn.execute(statements.insert, [InboundEventStatus.PENDING, *columns])
            inserted = {key: (event_id, tenant_id) for event_id, key, tenant_id in await cursor.fetchall()}
            missing = [key for key in by_key if key not in inserted]
            existing: set[str] = set()
            if missing:
                cursor = await conn.execute(statements.existing, [missing])
                existing = {row[0] for row in await cursor.fetchall()}
        self.batches += 1
        self.rows += len(inserted)
        by_tenant: dict[int, list[int]] = {}
        for key, items in by_key.items():
            if key in inserted:
                event_id, tenant_id = inserted[key]
                by_tenant.setdefault(tenant_id, []).append(event_id)
                _resolve(items[0].future, event_id)
                for duplicate in items[1:]:
                    _resolve(duplicate.future, None)
            elif key in existing:
                for item in items:
                    _resolve(item.future, None)
            else:
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(_Stale())
        logger.info(
            "webhook batch stored",
            extra={
                "requests": len(batch),
                "stored": len(inserted),
                "duplicates": sum(len(items) for key, items in by_key.items() if key in existing)
                + sum(len(items) - 1 for key, items in by_key.items() if key in inserted),
                "event_ids": sorted(event_id for event_id, _tenant in inserted.values()),
            },
        )
        if by_tenant:
            self._enqueued = [f for f in self._enqueued if not f.done()]
            self._enqueued.append(self._enqueuer.submit(_enqueue_committed, by_tenant))


def _resolve(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


def _enqueue_committed(by_tenant: dict[int, list[int]]) -> None:
    """Runs in the writer's background thread: the rows are committed; a lost enqueue (broker down)
    is recovered by the retry beat job, which re-enqueues pending events older than 5 minutes."""
    from django.db import connections

    from whatsapp.inbound import inbound_events_enqueue

    try:
        for tenant_id, event_ids in by_tenant.items():
            try:
                inbound_events_enqueue(tenant_id=tenant_id, event_ids=event_ids)
            except Exception as exc:  # noqa: BLE001 — the beat job re-enqueues stale pending events
                logger.error(
                    "webhook processing could not be enqueued",
                    extra={"tenant_id": tenant_id, "count": len(event_ids)},
                    exc_info=exc,
                )
    finally:
        connections.close_all()  # eager tasks (tests) open connections in this thread


writer = InboundEventWriter()


# --- the ASGI application -----------------------------------------------------------------------


async def _verifier_for(provider: str, secret: str) -> WebhookVerifier | None:
    cached = verifier_cache.get(provider, secret)
    if cached is not None:
        return cached
    row = await writer.lookup(provider=provider, secret=secret)
    if row is None:
        return None
    connection_id, tenant_id, provider, webhook_secret, app_secret_token = row
    app_secret = decrypt_str(app_secret_token) if app_secret_token else ""
    connection = Connection(
        pk=connection_id, tenant_id=tenant_id, provider=provider, webhook_secret=webhook_secret, app_secret=app_secret
    )
    return verifier_cache.put(
        connection_id=connection_id,
        tenant_id=tenant_id,
        provider=provider,
        webhook_secret=webhook_secret,
        app_secret_token=app_secret_token or "",
        adapter=get_adapter(connection),
    )


def _allowed_host(headers: dict[str, str], scope) -> bool:
    host = headers.get("host")
    if not host and scope.get("server"):
        host = f"{scope['server'][0]}:{scope['server'][1]}"
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host or "")
    return bool(domain) and validate_host(domain, allowed)


class _Reply(Exception):
    def __init__(self, status: int, code: str = "", detail: str = "") -> None:
        self.status, self.code, self.detail = status, code, detail


_NOT_FOUND = (404, "not_found", "Not found.")
_TOO_LARGE = (413, "payload_too_large", "The body is larger than 5 MB.")
_FORBIDDEN = (403, "invalid_signature", "The request signature is missing or wrong.")
_MALFORMED = (400, "malformed_json", "The body is not valid JSON.")
_UNAVAILABLE = (503, "unavailable", "The delivery could not be stored; retry later.")


class WebhookIntake:
    """ASGI wrapper: webhook POSTs here, everything else to `app` (Django)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            match = ROUTE.match(scope["path"])
            if match is not None:
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
                if _allowed_host(headers, scope):
                    return await self._handle(match["provider"], match["secret"], headers, receive, send)
        return await self.app(scope, receive, send)

    async def _handle(self, provider_slug: str, secret: str, headers: dict[str, str], receive, send) -> None:
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else f"{_REQUEST_ID_PREFIX}{next(_request_serial):x}"
        token = set_request_id(request_id)
        try:
            status, code, detail = await self._receive(provider_slug, secret, headers, receive)
        except _Reply as reply:
            status, code, detail = reply.status, reply.code, reply.detail
        except FieldDecryptionError:
            logger.exception("webhook connection secret could not be decrypted")
            status, code, detail = 500, FieldDecryptionError.code, "Server error."
        except Exception:
            logger.exception("webhook could not be stored")
            status, code, detail = _UNAVAILABLE
        finally:
            reset_request_id(token)
        body = json.dumps({"code": code, "detail": detail}).encode() if code else b""
        response_headers = [(b"content-length", str(len(body)).encode()), (b"x-request-id", request_id.encode())]
        if body:
            response_headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    async def _receive(self, provider_slug: str, secret: str, headers: dict[str, str], receive) -> tuple:
        provider = Provider.CLOUD if provider_slug == "cloud" else Provider.EVOLUTION
        verifier = await _verifier_for(provider, secret)
        if verifier is None:
            raise _Reply(*_NOT_FOUND)
        log = {"connection_id": verifier.connection_id, "tenant_id": verifier.tenant_id, "provider": provider}
        try:
            declared = int(headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_BODY_BYTES:
            logger.warning("webhook body too large", extra=log)
            raise _Reply(*_TOO_LARGE)
        body = await _read_body(receive, log)
        content_type = headers.get("content-type", "").split(";")[0].strip()
        received_at = timezone.now()
        for attempt in (1, 2):
            if not verifier.verify(headers=headers, body=body, secret=secret):
                logger.warning("webhook signature rejected", extra=log)
                raise _Reply(*_FORBIDDEN)
            if attempt == 1:
                try:
                    json.loads(body)
                except ValueError:
                    logger.warning("webhook body is not JSON", extra={**log, "size": len(body)})
                    raise _Reply(*_MALFORMED) from None
            try:
                event_id = await writer.store(
                    verifier=verifier, body=body, content_type=content_type, received_at=received_at
                )
            except _Stale:
                # Changed since cached (in another process): check again against the database.
                verifier_cache.discard(verifier)
                verifier = await _verifier_for(provider, secret)
                if verifier is None:
                    raise _Reply(*_NOT_FOUND) from None
                continue
            # One INFO line per batch (the writer's); per request only when debugging.
            logger.debug("webhook received", extra={**log, "event_id": event_id, "duplicate": event_id is None})
            return 200, "", ""
        raise _Reply(*_UNAVAILABLE)  # changed twice while we looked: the provider retries


async def _read_body(receive, log) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Reply(499)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            logger.warning("webhook body too large", extra=log)
            raise _Reply(*_TOO_LARGE)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
