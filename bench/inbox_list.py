"""Inbox list benchmark: `/api/v1/tickets/` of the biggest seeded tenant, per tab and filter.

    make bench-inbox            # or: python -m bench.inbox_list [--requests 200] [--explain] [--no-report]

Needs a database filled by `manage.py seed_load` (make bench-seed). For an agent (the one with the
most open tickets) and a supervisor of tenant `load-1` it requests each tab — mine (assigned to me,
open), waiting (pending in my queues), all, closed, one queue, one tag, search by name, by number,
by message text — `--requests` times through Django's test client in-process (the full stack: JWT
authentication, tenant middleware, throttles in Redis, filters, serializers; no network or server),
and reports p50/p95 and the SQL queries per request. `--explain` prints EXPLAIN ANALYZE of the
slowest statement of each case. Target: p95 < 50 ms at 100k tickets.

Baselines in the same run, so the figures compare across machines: the floor of the framework (an
empty view through the same test client and middleware: bench.urls) and, per case, the floor of
the database (the request's own SQL statements, as captured, run alone on the same connection).
Each case is also given as a ratio of the two floors together.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# The benchmark repeats requests far faster than the API's rate limits allow; throttles still run
# (their Redis round trips are part of the cost), with limits that are never reached.
for _name in ("THROTTLE_USER", "THROTTLE_IP", "THROTTLE_ANON"):
    os.environ[_name] = "100000000/min"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import clear_url_caches  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import Membership, Role  # noqa: E402
from accounts.services import tokens_issue  # noqa: E402
from bench import report  # noqa: E402
from bench.seeding import SLUG_PREFIX  # noqa: E402
from config.memory import startup_objects_frozen  # noqa: E402
from crm.models import Contact, Tag  # noqa: E402
from tenants.context import tenant_context  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tickets.models import Message, Queue, Ticket  # noqa: E402

URL = "/api/v1/tickets/"
EMPTY_URL = "/bench/empty/inbox/"
TARGET_P95_MS = 50.0


def _cases(tenant: Tenant, agent, supervisor) -> list[tuple[str, object, dict]]:
    with tenant_context(tenant):
        queue = Queue.objects.filter(members=agent).order_by("pk").first()
        tag = Tag.objects.order_by("pk").first()
        # A name, a number and message words that exist, picked from the data.
        contact = Contact.objects.filter(tickets__isnull=False).exclude(name="").order_by("-last_message_at").first()
        first_name = contact.name.split()[0]
        number = contact.phone[-8:]
        rare_text = (
            Message.objects.filter(text__startswith="Quero cancelar o pedido")
            .order_by("-id")
            .values_list("text", flat=True)
            .first()
        )
        order_number = rare_text.rsplit(" ", 1)[-1] if rare_text else "123456"
    tabs = [
        ("mine", {"assignee": "me", "status": "open"}),
        ("waiting", {"status": "pending"}),
        ("all", {}),
        ("closed", {"status": "closed"}),
        (f"queue {queue.name}", {"queue": queue.pk}),
        (f"tag {tag.name}", {"tag": tag.pk}),
        (f"search name '{first_name}'", {"q": first_name}),
        (f"search number '{number}'", {"q": number}),
        ("search text 'cancelar'", {"q": "cancelar"}),
        (f"search text '{order_number}'", {"q": order_number}),
    ]
    return [(f"{who} · {name}", user, params) for who, user in (("agent", agent), ("supervisor", supervisor))
            for name, params in tabs]  # fmt: skip


def _client(user, tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user, tenant=tenant).access}")
    return client


def _explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def _timed(action, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def _empty_view_ms(client, repeat: int) -> list[float]:
    """The framework's floor: an empty view (bench.urls) through the same client and middleware."""
    settings.ROOT_URLCONF = "bench.urls"
    clear_url_caches()
    for _ in range(3):
        assert client.get(EMPTY_URL).status_code == 200
    return _timed(lambda: client.get(EMPTY_URL), repeat)


def _sql_alone_ms(statements: list[dict], repeat: int) -> list[float]:
    """The database's floor for a case: its request's statements, as captured, run one after the
    other on the same connection (what PostgreSQL and the round trips cost without Django)."""
    sqls = [statement["sql"] for statement in statements]

    def run_all():
        with connection.cursor() as cursor:
            for sql in sqls:
                cursor.execute(sql)
                cursor.fetchall()

    run_all()
    return _timed(run_all, repeat)


def run(*, requests: int, explain: bool, write_report: bool, page_size: int) -> list[dict]:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    tenant = Tenant.objects.filter(slug=f"{SLUG_PREFIX}1").first()
    if tenant is None:
        sys.exit("No seeded tenant load-1: run `make bench-seed` (manage.py seed_load) first.")
    with tenant_context(tenant):
        ticket_total = Ticket.objects.count()
        message_total = Message.objects.count()
        agents = Membership.objects.filter(role=Role.AGENT).values_list("user_id", flat=True)
        busiest = (
            Ticket.objects.filter(assignee_id__in=agents, status=Ticket.Status.OPEN)
            .values("assignee_id")
            .order_by()
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()
        )
        agent = Membership.objects.select_related("user").get(user_id=busiest["assignee_id"]).user
        supervisor = Membership.objects.select_related("user").filter(role=Role.SUPERVISOR).first().user
    print(f"tenant {tenant.slug}: {ticket_total} tickets, {message_total} messages; agent {agent.email}")
    clients = {agent.pk: _client(agent, tenant), supervisor.pk: _client(supervisor, tenant)}
    startup_objects_frozen()  # as the web servers do once started (config/wsgi.py, config/asgi.py)
    empty = _empty_view_ms(clients[supervisor.pk], requests)
    empty_p50 = statistics.median(empty)
    print(f"baseline: empty view p50 {empty_p50:.1f} ms  p95 {_percentile(empty, 95):.1f} ms")

    rows, slow = [], []
    for name, user, params in _cases(tenant, agent, supervisor):
        client = clients[user.pk]
        params = {**params, "page_size": page_size}
        for _ in range(3):  # warm-up: caches, prepared plans, the connection
            response = client.get(URL, params)
            assert response.status_code == 200, response.content
        reset_queries()  # every request starts by clearing the log; the capture must start from 0
        with CaptureQueriesContext(connection) as captured:
            response = client.get(URL, params)
        statements = list(captured.captured_queries)  # read from the live log, which the next request clears
        count = response.json()["count"]
        timings = []
        for _ in range(requests):
            began = time.perf_counter()
            response = client.get(URL, params)
            timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
        p50, p95 = statistics.median(timings), _percentile(timings, 95)
        queries = len(statements)
        sql_p50 = statistics.median(_sql_alone_ms(statements, requests))
        ratio = p50 / (sql_p50 + empty_p50)
        print(
            f"{name:45} {count:>7} rows  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  {queries} queries  "
            f"SQL alone {sql_p50:5.1f} ms  ×{ratio:.1f}"
        )
        rows.append(
            {
                "figure": f"{name} ({count:,} tickets)",
                "value": (
                    f"p50 {p50:.1f} ms · p95 {p95:.1f} ms · {queries} queries · SQL alone p50 {sql_p50:.1f} ms · "
                    f"×{ratio:.1f} of the floors"
                ),
                "target": f"p95 < {TARGET_P95_MS:.0f} ms",
                "met": p95 < TARGET_P95_MS,
            }
        )
        slowest = max(statements, key=lambda q: float(q["time"]))
        slow.append((name, slowest))
        if explain:
            print(f"--- slowest statement ({float(slowest['time']) * 1000:.1f} ms):\n{slowest['sql']}\n")
            print(_explain(slowest["sql"]) + "\n")

    rows.append(
        {
            "figure": "baseline: empty view, same client and middleware",
            "value": f"p50 {empty_p50:.1f} ms · p95 {_percentile(empty, 95):.1f} ms",
        }
    )
    if write_report:
        met = sum(1 for row in rows if row.get("met"))
        notes = (
            f"Tenant `load-1` of `seed_load --tenants 5 --tickets 100000 --messages 1000000 --contacts 50000`: "
            f"{ticket_total:,} tickets, {message_total:,} messages. {requests} requests per case after 3 warm-up "
            f"requests, page size {page_size}, Django test client in-process (JWT auth, middleware, throttles in "
            f"Redis, filters, serializers; no HTTP server or network). {met}/{len(rows) - 1} cases meet the "
            "target. Floors: `SQL alone` is the case's statements as captured, run alone on the same "
            "connection; the empty view is the framework's; `×` is p50 over the two floors together."
        )
        report.append("Inbox list (`make bench-inbox`)", rows, notes)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="Requests per case (after 3 warm-up requests).")
    parser.add_argument("--page-size", type=int, default=25)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest statement of each case.")
    parser.add_argument("--no-report", action="store_true", help="Print only; do not append to docs/PERFORMANCE.md.")
    args = parser.parse_args(argv)
    run(requests=args.requests, explain=args.explain, write_report=not args.no_report, page_size=args.page_size)


if __name__ == "__main__":
    main()
