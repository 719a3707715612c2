"""End-to-end inbound benchmark: stored webhook events → Celery workers → contacts, tickets, messages.

    make bench-inbound          # or: python -m bench.inbound_e2e [--events 20000] [--new-share 0.3] [--no-report]

Needs a database filled by `manage.py seed_load` (make bench-seed) and a Redis database of its own
(REDIS_URL; its default Celery queue is emptied first). Steps:

1. Builds `--events` Cloud API webhook bodies for tenant `load-1`'s connection, one message each —
   a share (`--new-share`) from new customers, the rest from contacts whose ticket is open or
   pending — mostly text, some locations and button replies (no media: downloads are a separate
   task against the provider), and stores them as `InboundEvent`s exactly as the webhook view does
   after checking the signature (same columns and dedupe key), without enqueueing yet.
2. Enqueues their processing as the webhook view does (`inbound_events_enqueue`, `--batch` events at
   a time: one `whatsapp.process_inbound_events` task per 20 events), then starts a Celery worker of the
   project's app as docker-compose's `worker` service runs it (`celery -A config worker
   --concurrency 2`: prefork, prefetch multiplier 1, acks late; CONN_MAX_AGE=60 from the shared app
   environment) and waits until no event is pending. Messages/s = events / (last processed_at −
   first). Also measured: the CPU time of the worker's processes and of the PostgreSQL backends
   serving them, per message — the figure that a shared machine does not distort.
3. Counts the SQL statements of one message of an existing open ticket (and of a new customer),
   in-process through the same service (`inbound_event_process`), and prints them.
4. Baseline: the same message rows INSERTed through psycopg into a copy of the message table
   (same indexes) — one transaction per row, one transaction for all (executemany), and COPY.

Targets: ≥ 500 messages/s; ≤ 12 SQL statements per message of an existing open ticket.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.db.models import Max, Min  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import report  # noqa: E402
from bench.seeding import FIRST_NAMES, INBOUND_TEXTS, LAST_NAMES, PLACES, PRODUCTS, SLUG_PREFIX  # noqa: E402
from crm.models import Contact  # noqa: E402
from tenants.context import tenant_context  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tickets.models import Message, Ticket  # noqa: E402
from whatsapp.choices import InboundEventStatus  # noqa: E402
from whatsapp.inbound import INBOUND_BATCH_SIZE, inbound_event_process, inbound_events_enqueue  # noqa: E402
from whatsapp.models import Connection, InboundEvent  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATE = 500
TARGET_STATEMENTS = 12


# --- payloads --------------------------------------------------------------------------------------


def cloud_body(*, conn: Connection, wa_id: str, name: str, message_id: str, rng: random.Random) -> bytes:
    """One Cloud API `messages` webhook, as Meta sends it."""
    message: dict = {"from": wa_id, "id": message_id, "timestamp": str(int(time.time()))}
    roll = rng.random()
    if roll < 0.92:
        text = rng.choice(INBOUND_TEXTS).format(
            order=rng.randrange(10_000, 999_999), product=rng.choice(PRODUCTS), cep="01310-100", agent=""
        )
        message.update(type="text", text={"body": text})
    elif roll < 0.96:
        place, address, lat, lng = rng.choice(PLACES)
        message.update(type="location", location={"latitude": lat, "longitude": lng, "name": place, "address": address})
    else:
        message.update(
            type="interactive",
            interactive={"type": "button_reply", "button_reply": {"id": "opt-1", "title": "Falar com atendente"}},
        )
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": conn.display_phone_number, "phone_number_id": conn.phone_number_id},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [message],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _senders(tenant: Tenant, events: int, new_share: float, rng: random.Random) -> list[tuple[str, str]]:
    with tenant_context(tenant):
        existing = list(
            Ticket.objects.exclude(status=Ticket.Status.CLOSED)
            .select_related("contact")
            .values_list("contact__wa_id", "contact__profile_name")
        )
    new_count = round(events * new_share)
    new = [
        (number, f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
        for number in _new_numbers(tenant, new_count // 2 or 1, rng)
    ]
    # New customers usually write twice in a row (hello, then the question): half the "new" events
    # open a ticket, the other half join it.
    senders = [rng.choice(new) for _ in range(new_count)]
    senders += [rng.choice(existing) for _ in range(events - new_count)]
    rng.shuffle(senders)
    return senders


# Brazilian mobiles as WhatsApp sends them (E.164 digits, 13), in area codes seed_load does not
# use (bench.seeding.DDDS), and none a contact of the tenant has: customers who never wrote.
NEW_CUSTOMER_DDDS = ("91", "93", "94", "95", "96", "97", "98", "99")


def _new_numbers(tenant: Tenant, count: int, rng: random.Random) -> list[str]:
    numbers: set[str] = set()
    while len(numbers) < count:
        wanted = {f"55{rng.choice(NEW_CUSTOMER_DDDS)}9{rng.randrange(6 * 10**7, 10**8)}" for _ in range(count)}
        with tenant_context(tenant):
            taken = set(Contact.objects.filter(wa_id__in=wanted).values_list("wa_id", flat=True))
        numbers |= wanted - taken
    return sorted(numbers)[:count]


def store_events(*, conn: Connection, bodies: list[bytes]) -> list[int]:
    """The webhook view's INSERT (whatsapp.inbound.inbound_event_store) for every body, in one
    transaction and without enqueueing: processing is started separately, to be timed on its own."""
    now = timezone.now()
    rows = [
        (
            conn.tenant_id,
            conn.pk,
            conn.provider,
            InboundEvent.build_dedupe_key(connection_id=conn.pk, body=body),
            body,
            "application/json",
            InboundEventStatus.PENDING.value,
            "",
            0,
            now,
        )
        for body in bodies
    ]
    table = connection.ops.quote_name(InboundEvent._meta.db_table)
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own: executemany(returning=True)
        cursor.executemany(
            f"INSERT INTO {table} (tenant_id, connection_id, provider, dedupe_key, body, content_type, "  # noqa: S608
            "status, error, attempts, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            rows,
            returning=True,
        )
        ids = []
        while True:
            ids.append(cursor.fetchone()[0])
            if not cursor.nextset():
                break
    return ids


# --- the worker ------------------------------------------------------------------------------------


def enqueue(event_ids: list[int], tenant_id: int, batch: int) -> float:
    """What the webhook view does after storing (whatsapp.inbound.inbound_events_enqueue), for
    `batch` events at a time: one processing task per INBOUND_BATCH_SIZE events."""
    began = time.monotonic()
    for start in range(0, len(event_ids), batch):
        inbound_events_enqueue(tenant_id=tenant_id, event_ids=event_ids[start : start + batch])
    return time.monotonic() - began


# docker-compose's `worker` service: `celery -A config worker --concurrency 2` with the
# environment shared by the app services (persistent database connections, CONN_MAX_AGE=60).
# Without --concurrency Celery starts one process per core: the same 2 here.
WORKER_ENV = {"CONN_MAX_AGE": "60", "LOG_LEVEL": "WARNING"}


def start_worker(concurrency: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING", "--without-mingle"]
    command += ["--without-gossip", "--concurrency", str(concurrency), "-n", f"bench-inbound-{os.getpid()}@%h"]
    return subprocess.Popen(  # noqa: S603 — our own interpreter and arguments
        command, cwd=ROOT, env={**os.environ, **WORKER_ENV}, start_new_session=True
    )


def cpu_seconds(worker: subprocess.Popen) -> tuple[float, float]:
    """CPU (user + system) used so far by the worker's processes, and by the PostgreSQL backends
    serving their connections (found by the client ports of their sockets): the figures that do
    not depend on what else the machine runs."""
    import psutil

    try:
        processes = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    worker_cpu, ports = 0.0, []
    for process in processes:
        try:
            times = process.cpu_times()
            worker_cpu += times.user + times.system
            ports += [c.laddr.port for c in process.net_connections(kind="tcp") if c.raddr and c.raddr.port == 5432]
        except psutil.NoSuchProcess:
            continue
    backend_cpu = 0.0
    if ports:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s)", [ports])
            for (pid,) in cursor.fetchall():
                try:
                    times = psutil.Process(pid).cpu_times()
                    backend_cpu += times.user + times.system
                except psutil.NoSuchProcess:
                    continue
    return worker_cpu, backend_cpu


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)  # the worker and its pool processes, all ours
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def wait_until_processed(event_ids: list[int], timeout: float, worker: subprocess.Popen) -> tuple[dict[str, int], dict]:
    """Waits for the events; also returns the CPU the worker and its database backends used per
    event between the first sample with events done and the end."""
    deadline = time.monotonic() + timeout
    first, last = min(event_ids), max(event_ids)
    start = None  # (events done, worker CPU, backend CPU) at the first sample after work began
    while True:
        pending = InboundEvent.all_tenants.filter(
            pk__gte=first, pk__lte=last, status=InboundEventStatus.PENDING
        ).count()
        done = len(event_ids) - pending
        sample = (done, *cpu_seconds(worker))
        if start is None and done:
            start = sample
        if pending == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    cpu = {}
    if start is not None and sample[0] > start[0]:
        count = sample[0] - start[0]
        cpu = {"events": count, "worker_ms": (sample[1] - start[1]) / count * 1000,
               "database_ms": (sample[2] - start[2]) / count * 1000}  # fmt: skip
    statuses = InboundEvent.all_tenants.filter(pk__gte=first, pk__lte=last).values_list("status", flat=True).order_by()
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts, cpu


# --- statements per message ------------------------------------------------------------------------


def statements_for_one(*, conn: Connection, wa_id: str, name: str, rng: random.Random, tag: str) -> list[str]:
    body = cloud_body(conn=conn, wa_id=wa_id, name=name, message_id=f"wamid.BENCH{tag}{time.time_ns()}", rng=rng)
    while b'"type":"text"' not in body:
        body = cloud_body(conn=conn, wa_id=wa_id, name=name, message_id=f"wamid.BENCH{tag}{time.time_ns()}", rng=rng)
    [event_id] = store_events(conn=conn, bodies=[body])
    with tenant_context(conn.tenant):
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            # Inside a batch, as the worker runs it: the batch has read its connection already.
            status = inbound_event_process(event_id=event_id, connections={conn.pk: conn})
        statements = [query["sql"] for query in captured.captured_queries]
    assert status == InboundEventStatus.PROCESSED, status
    return statements


# --- baseline --------------------------------------------------------------------------------------


def baseline(message_ids: list[int]) -> dict[str, float]:
    """Rows/s of raw INSERTs of the very message rows the run created, into a copy of the table with
    the same indexes: per-row transactions (what one event is), one transaction, and COPY."""
    import psycopg

    db = settings.DATABASES["default"]
    conninfo = psycopg.conninfo.make_conninfo(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, dbname=db["NAME"], user=db["USER"],
        password=db["PASSWORD"] or None,
    )  # fmt: skip
    table = Message._meta.db_table
    columns = [f.column for f in Message._meta.concrete_fields if f.column != "id"]
    column_list = ", ".join(f'"{c}"' for c in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    results = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT {column_list} FROM {table} WHERE id = ANY(%s)",  # noqa: S608
            [message_ids],
        ).fetchall()
        # JSON columns come back as Python objects; send them back as JSON.
        json_positions = [
            i for i, f in enumerate(Message._meta.concrete_fields[1:]) if f.get_internal_type() == "JSONField"
        ]
        rows = [
            tuple(psycopg.types.json.Jsonb(v) if i in json_positions else v for i, v in enumerate(row)) for row in rows
        ]
        conn.execute("DROP TABLE IF EXISTS bench_message_baseline")
        conn.execute(f"CREATE TABLE bench_message_baseline (LIKE {table} INCLUDING ALL)")
        try:
            insert = f"INSERT INTO bench_message_baseline ({column_list}) VALUES ({placeholders})"  # noqa: S608
            # Unique (connection, provider id) as in the real table: each variant gets fresh ids.
            pid = columns.index("provider_message_id")

            def variant(tag: str):
                return [row[:pid] + (f"{row[pid]}{tag}",) + row[pid + 1 :] for row in rows]

            began = time.monotonic()
            with conn.cursor() as cursor:
                for row in variant("a"):
                    cursor.execute(insert, row)  # autocommit: one transaction each
            results["per-row transactions"] = len(rows) / (time.monotonic() - began)

            began = time.monotonic()
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(insert, variant("b"))
            results["executemany, one transaction"] = len(rows) / (time.monotonic() - began)

            began = time.monotonic()
            with conn.transaction(), conn.cursor() as cursor:
                with cursor.copy(f"COPY bench_message_baseline ({column_list}) FROM STDIN") as copy:
                    for row in variant("c"):
                        copy.write_row(row)
            results["COPY"] = len(rows) / (time.monotonic() - began)
        finally:
            conn.execute("DROP TABLE IF EXISTS bench_message_baseline")
    return results


# --- the run ---------------------------------------------------------------------------------------


def run(*, events: int, new_share: float, timeout: float, write_report: bool, concurrency: int, batch: int) -> None:
    tenant = Tenant.objects.filter(slug=f"{SLUG_PREFIX}1").first()
    if tenant is None:
        sys.exit("No seeded tenant load-1: run `make bench-seed` (manage.py seed_load) first.")
    with tenant_context(tenant):
        conn = Connection.objects.get(is_default=True)
    rng = random.Random(6)
    run_tag = f"{int(time.time()) % 100_000:05d}"

    # 3 first: the statement counts, on a quiet database.
    with tenant_context(tenant):
        open_ticket = Ticket.objects.filter(status=Ticket.Status.OPEN).select_related("contact").first()
    existing_statements = statements_for_one(
        conn=conn, wa_id=open_ticket.contact.wa_id, name=open_ticket.contact.profile_name, rng=rng, tag="x"
    )
    new_statements = statements_for_one(
        conn=conn, wa_id=_new_numbers(tenant, 1, rng)[0], name="Nova Cliente", rng=rng, tag="n"
    )
    print(f"SQL statements, message of an existing open ticket: {len(existing_statements)}")
    for n, sql in enumerate(existing_statements, 1):
        print(f"  {n:2}. {sql[:220]}")
    print(f"SQL statements, first message of a new customer: {len(new_statements)}")

    # 1.
    senders = _senders(tenant, events, new_share, rng)
    bodies = [
        cloud_body(conn=conn, wa_id=wa_id, name=name or "Cliente", message_id=f"wamid.BENCH{run_tag}x{n}", rng=rng)
        for n, (wa_id, name) in enumerate(senders)
    ]
    began = time.monotonic()
    event_ids = store_events(conn=conn, bodies=bodies)
    print(f"stored {len(event_ids)} events in {time.monotonic() - began:.1f} s")

    # 2.
    from config.celery import app

    app.control.purge()
    enqueue_seconds = enqueue(event_ids, tenant.pk, batch)
    print(f"enqueued in {enqueue_seconds:.1f} s; starting the worker")
    began = time.monotonic()
    worker = start_worker(concurrency)
    try:
        counts, cpu = wait_until_processed(event_ids, timeout, worker)
    finally:
        wall = time.monotonic() - began
        stop_worker(worker)
    span = InboundEvent.all_tenants.filter(pk__in=event_ids, status=InboundEventStatus.PROCESSED).aggregate(
        first=Min("processed_at"), last=Max("processed_at")
    )
    processed = counts.get(InboundEventStatus.PROCESSED, 0)
    seconds = (span["last"] - span["first"]).total_seconds() if processed > 1 else float("nan")
    rate = processed / seconds if seconds else 0.0
    created = list(
        Message.all_tenants.filter(tenant=tenant, provider_message_id__startswith=f"wamid.BENCH{run_tag}x").values_list(
            "pk", flat=True
        )
    )
    print(f"events: {counts}; messages stored: {len(created)}")
    print(f"{processed} events in {seconds:.1f} s → {rate:.0f} messages/s (wall with worker start: {wall:.1f} s)")
    if cpu:
        per_message = cpu["worker_ms"] + cpu["database_ms"]
        print(
            f"CPU per message: worker {cpu['worker_ms']:.1f} ms + PostgreSQL {cpu['database_ms']:.1f} ms "
            f"(over {cpu['events']} events) → at most {os.cpu_count() * 1000 / per_message:,.0f} messages/s "
            f"on {os.cpu_count()} idle cores"
        )

    # 4.
    base = baseline(created)
    for name, value in base.items():
        print(f"baseline {name}: {value:,.0f} rows/s")

    if write_report:
        per_row = base["per-row transactions"]
        cpu_rows = []
        if cpu:
            per_message = cpu["worker_ms"] + cpu["database_ms"]
            cpu_rows = [
                {
                    "figure": "CPU per message: worker + PostgreSQL backends",
                    "value": f"{cpu['worker_ms']:.1f} + {cpu['database_ms']:.1f} ms",
                },
                {
                    "figure": f"messages/s those allow on {os.cpu_count()} idle cores (Redis not counted)",
                    "value": f"{os.cpu_count() * 1000 / per_message:,.0f}",
                    "target": f"≥ {TARGET_RATE}",
                    "met": os.cpu_count() * 1000 / per_message >= TARGET_RATE,
                },
            ]
        rows = [
            {
                "figure": f"end-to-end inbound, messages/s ({concurrency} prefork processes, {batch} enqueued at once)",
                "value": f"{rate:,.0f} ({processed:,} events in {seconds:.1f} s)",
                "target": f"≥ {TARGET_RATE}",
                "met": rate >= TARGET_RATE,
            },
            *cpu_rows,
            {
                "figure": "SQL statements, message of an existing open ticket",
                "value": len(existing_statements),
                "target": f"≤ {TARGET_STATEMENTS}",
                "met": len(existing_statements) <= TARGET_STATEMENTS,
            },
            {"figure": "SQL statements, first message of a new customer", "value": len(new_statements)},
            {
                "figure": "events failed / left pending",
                "value": f"{counts.get('failed', 0)} / {counts.get('pending', 0)}",
                "target": "0 / 0",
                "met": not counts.get("failed") and not counts.get("pending"),
            },
            {"figure": "baseline: INSERT, one transaction per row (1 connection)", "value": f"{per_row:,.0f} rows/s"},
            {"figure": "baseline: executemany, one transaction",
             "value": f"{base['executemany, one transaction']:,.0f} rows/s"},
            {"figure": "baseline: COPY", "value": f"{base['COPY']:,.0f} rows/s"},
            {"figure": "end-to-end ÷ per-row INSERT baseline", "value": f"{rate / per_row:.2f}"},
            {"figure": "end-to-end ÷ COPY baseline", "value": f"{rate / base['COPY']:.3f}"},
        ]  # fmt: skip
        statement_list = "\n".join(f"{n}. `{_short(sql)}`" for n, sql in enumerate(existing_statements, 1))
        notes = (
            f"{events:,} Cloud webhook bodies for tenant `load-1` ({new_share:.0%} from new customers, half of them "
            f"opening a ticket; the rest to open/pending tickets), one text/location/button message each, stored as "
            f"the webhook view stores them, then processed by `celery -A config worker --concurrency {concurrency}` "
            f"as docker-compose's `worker` runs it (prefork, prefetch multiplier 1, acks late, CONN_MAX_AGE=60) "
            f"against PostgreSQL and Redis on the same machine. Rate = processed events ÷ (last − first "
            f"`processed_at`). CPU per message: user + system time of the worker's processes and of the "
            f"PostgreSQL backends of their connections while the events were processed, ÷ events — what the "
            f"rate would be on idle cores, whatever else the machine ran. Events were handed to "
            f"`inbound_events_enqueue` {batch} at a time (tasks of at most {INBOUND_BATCH_SIZE} events); "
            f"enqueueing took {enqueue_seconds:.1f} s. "
            f"The baseline inserts the same {len(created):,} message rows into a copy of "
            f"the message table (same indexes) through psycopg on one connection.\n\n"
            f"Statements of one message of an existing open ticket (Django's log, BEGIN and COMMIT included):\n\n"
            f"{statement_list}"
        )
        report.append("End-to-end inbound (`make bench-inbound`)", rows, notes)


def _short(sql: str) -> str:
    sql = " ".join(sql.split())
    if sql.startswith("SELECT") and (at := _outer_from(sql)) is not None:
        sql = "SELECT … FROM " + sql[at + len(" FROM ") :]
    return sql[:160].replace("`", "'") + ("…" if len(sql) > 160 else "")


def _outer_from(sql: str) -> int | None:
    """Where the SELECT's own FROM starts (not one of a subquery in its select list)."""
    depth = 0
    for at, char in enumerate(sql):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and sql.startswith(" FROM ", at):
            return at
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--new-share", type=float, default=0.3, help="Share of events from new customers.")
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds to wait for the worker.")
    parser.add_argument("--concurrency", type=int, default=2, help="Worker processes (docker-compose's worker: 2).")
    parser.add_argument(
        "--batch",
        type=int,
        default=INBOUND_BATCH_SIZE,
        help="Events handed to inbound_events_enqueue at once (1: one webhook request each; tasks take at most "
        f"{INBOUND_BATCH_SIZE}).",
    )
    parser.add_argument("--no-report", action="store_true", help="Print only; do not append to docs/PERFORMANCE.md.")
    args = parser.parse_args(argv)
    run(
        events=args.events,
        new_share=args.new_share,
        timeout=args.timeout,
        write_report=not args.no_report,
        concurrency=args.concurrency,
        batch=args.batch,
    )


if __name__ == "__main__":
    main()
