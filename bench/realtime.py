"""Benchmark 4 of issue 6, real time: with hundreds of WebSocket clients connected, the delay from a
webhook POST to `message.created` at the clients allowed to see it, and the ASGI server's memory.

    make bench-realtime
    python -m bench.realtime --servers daphne --clients 500 --tenants 5 --messages 200 --rate 10

Per server: a fresh bench database with `--tenants` tenants, each with a Cloud connection and
members (a tenth supervisors, the rest agents) holding JWTs; the ASGI server and a real Celery
worker (the project's app, as `make run` starts it) against the bench Redis; `--clients` sockets on
`/ws/?token=<JWT>`. Then signed webhooks are POSTed to the same server at `--rate` per second,
round-robin over the tenants and over `--senders` customers per tenant (so both new and already
open tickets). Each client records when `message.created` arrives; the delay is measured from just
before the POST, on one monotonic clock (the clients and the poster share this process). Afterwards
the database says who should have received each message (tickets.events' audience: the tenant's
staff, its agents while the ticket waits without a queue, the assignee): missing and foreign
deliveries are counted (both must be 0).

The delay includes the whole inbound path: the webhook view, the broker, the worker's
transaction, the channel layer and the server's fan-out to every recipient socket.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from bench import stack

TARGET_P95_MS = 200
TARGET_RSS_MB = 300
CONNECT_BATCH = 50
CONNECT_ATTEMPTS = 4


@dataclass
class Client:
    index: int
    tenant_id: int
    user_id: int
    role: str
    token: str
    received: dict[str, float] = field(default_factory=dict)  # message text → arrival (perf_counter)
    foreign: int = 0  # message.created of another tenant's message
    ended: str = ""  # why the socket stopped before the end of the run, if it did
    connect_retries: int = 0


def _fixtures(*, tenants: int, clients: int):
    from bench.whatsapp_load import members_create, tenant_with_connection

    per_tenant = [clients // tenants + (1 if i < clients % tenants else 0) for i in range(tenants)]
    connections, members = [], []
    for index, size in enumerate(per_tenant, start=1):
        tenant, connection = tenant_with_connection(index=index, max_users=size + 1)
        supervisors = max(1, size // 10)
        connections.append(connection)
        members += members_create(tenant=tenant, agents=size - supervisors, supervisors=supervisors)
    return connections, members


def _bodies(connections, *, messages: int, senders: int, run: str):
    """(tenant_id, text, body, signature) per message, signed before the clock starts."""
    from bench.whatsapp_load import signed_text_webhook

    planned = []
    for n in range(messages):
        connection = connections[n % len(connections)]
        sender = (n // len(connections)) % senders
        text = f"bench realtime {run} #{n}"
        body, signature = signed_text_webhook(
            connection=connection, wa_id=f"5521{connection.tenant_id:03d}{sender:06d}", text=text, name="Bench"
        )
        planned.append((connection, text, body, signature))
    return planned


class Poster:
    """POSTs webhooks from one thread over a kept-alive HTTP connection; records send times."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()  # one kept-alive connection per executor thread
        self.sent_at: dict[str, float] = {}
        self.sent_wall: dict[str, float] = {}
        self.statuses: dict[int, int] = defaultdict(int)
        self.post_ms: list[float] = []
        self.lock = threading.Lock()

    def post(self, connection, text: str, body: bytes, signature: str) -> None:
        path = f"/webhooks/whatsapp/cloud/{connection.webhook_secret}/"
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            started, started_wall = time.perf_counter(), time.time()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None  # the server closed a kept-alive connection: reconnect once
                if attempt == 2:
                    raise
                continue
            with self.lock:
                self.sent_at[text] = started
                self.sent_wall[text] = started_wall
                self.statuses[response.status] += 1
                self.post_ms.append(1000 * (time.perf_counter() - started))
            return


async def _listen(ws, client: Client, tenant_texts: dict[str, int]) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in ws:
            arrived = time.perf_counter()
            event = json.loads(raw)
            if event.get("type") != "message.created":
                continue
            text = event["data"].get("text", "")
            if tenant_texts.get(text, client.tenant_id) != client.tenant_id:
                client.foreign += 1
            client.received.setdefault(text, arrived)
        client.ended = f"closed by the server: {ws.close_code} {ws.close_reason}"
    except ConnectionClosed as exc:
        client.ended = f"connection lost: {exc}"


async def _connect(client: Client, port: int, tenant_texts, ready: list, deflate: bool):
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake

    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            ws = await connect(
                f"ws://127.0.0.1:{port}/ws/?token={client.token}",
                origin=f"http://127.0.0.1:{port}",
                open_timeout=60,
                max_size=2**22,
                compression="deflate" if deflate else None,
            )
            break
        except (OSError, EOFError, InvalidHandshake):
            # The server gave up on the handshake (daphne: 5 s to accept): retry, as a browser would.
            client.connect_retries += 1
            if attempt == CONNECT_ATTEMPTS:
                raise
            await asyncio.sleep(attempt)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
    if hello.get("type") != "session.ready":
        raise RuntimeError(f"client {client.index}: expected session.ready, got {hello}")
    ready.append(client)
    return ws, asyncio.create_task(_listen(ws, client, tenant_texts))


async def _sample_rss(process: stack.Process, samples: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(process.rss_bytes())
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


async def _sample_loop_lag(lags: list[float], stop: asyncio.Event) -> None:
    """How late this process's own event loop wakes up: the error bar of the client-side clock."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(1000 * (time.perf_counter() - before - 0.01))


def _cpu_seconds(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0.0


async def _run(*, port: int, process: stack.Process, worker: stack.Process, clients: list[Client], planned, args):
    tenant_texts = {text: connection.tenant_id for connection, text, _b, _s in planned}
    rss_samples: list[int] = []
    lags: list[float] = []
    stop = asyncio.Event()
    ready: list[Client] = []
    sockets, listeners = [], []
    started = time.perf_counter()
    for first in range(0, len(clients), CONNECT_BATCH):
        batch = clients[first : first + CONNECT_BATCH]
        for ws, listener in await asyncio.gather(
            *(_connect(c, port, tenant_texts, ready, args.deflate) for c in batch)
        ):
            sockets.append(ws)
            listeners.append(listener)
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(1)
    rss_connected = process.rss_bytes()
    retries = sum(c.connect_retries for c in clients)
    stack.say(
        f"{len(ready)} clients connected in {connect_seconds:.1f} s ({retries} handshakes retried); "
        f"server RSS {rss_connected / 2**20:.0f} MB"
    )

    samplers = [asyncio.create_task(_sample_rss(process, rss_samples, stop)),
                asyncio.create_task(_sample_loop_lag(lags, stop))]  # fmt: skip
    poster = Poster(port)
    loop = asyncio.get_running_loop()
    warmup, measured = planned[: args.warmup], planned[args.warmup :]
    for item in warmup:
        await loop.run_in_executor(None, poster.post, *item)
    await asyncio.sleep(3)
    stack.say(f"posting {len(measured)} webhooks at {args.rate}/s")
    watched = {"server": process.pid, "worker": worker.pid, "clients": os.getpid()}
    cpu_before = {name: _cpu_seconds(pid) for name, pid in watched.items()}
    post_started = time.perf_counter()
    pending = []
    for n, item in enumerate(measured):
        delay = post_started + n / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        # One thread per in-flight POST would reorder them; a small pool keeps the pace if a POST is slow.
        pending.append(loop.run_in_executor(None, poster.post, *item))
    await asyncio.gather(*pending)
    posting_seconds = time.perf_counter() - post_started
    # Wait until every client has every message of its tenant (an upper bound of the audience), or
    # until nothing more arrives for a few seconds, or the timeout.
    deadline = time.perf_counter() + args.timeout
    measured_texts = [text for _c, text, _b, _s in measured]
    wanted = sum(1 for c in clients for text in measured_texts if tenant_texts[text] == c.tenant_id)
    last_count, last_change = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        count = sum(1 for c in clients for text in measured_texts if text in c.received)
        if count >= wanted:
            break
        if count != last_count:
            last_count, last_change = count, time.perf_counter()
        elif time.perf_counter() - last_change > 10:
            break
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - post_started
    cpu_seconds = {name: _cpu_seconds(pid) - cpu_before[name] for name, pid in watched.items()}
    cpu = {name: 100 * used / elapsed for name, used in cpu_seconds.items()}
    stop.set()
    await asyncio.gather(*samplers)
    for listener in listeners:
        listener.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "connected": len(ready),
        "connect_retries": retries,
        "connect_seconds": connect_seconds,
        "rss_connected": rss_connected,
        "rss_peak": max(rss_samples or [rss_connected]),
        "posting_seconds": posting_seconds,
        "poster": poster,
        "measured_texts": measured_texts,
        "loop_lag_p99": stack.percentile(sorted(lags), 99),
        "cpu_percent": cpu,
        "cpu_seconds": cpu_seconds,
    }


def _expected_recipients(clients: list[Client], texts: list[str]) -> tuple[dict[str, set[int]], dict[str, float]]:
    """Who tickets.events says should receive each message, from the tickets as they are now; and
    when each message was stored (epoch seconds)."""
    from tickets.models import Message, Ticket

    rows = Message.all_tenants.filter(text__in=texts).values_list(
        "text", "tenant_id", "ticket__status", "ticket__queue_id", "ticket__assignee_id", "created_at"
    )
    by_tenant = defaultdict(list)
    for c in clients:
        by_tenant[c.tenant_id].append(c)
    expected, stored_at = {}, {}
    for text, tenant_id, status, queue_id, assignee_id, created_at in rows:
        stored_at[text] = created_at.timestamp()
        members = by_tenant[tenant_id]
        audience = {c.index for c in members if c.role != "agent" or c.user_id == assignee_id}
        if status == Ticket.Status.PENDING and queue_id is None:
            audience |= {c.index for c in members if c.role == "agent"}
        # Queue members would be expected too; the bench creates no queues.
        expected[text] = audience
    return expected, stored_at


def measure(spec: stack.ServerSpec, *, env, args, run: str, connections, members) -> dict:
    clients = [
        Client(index=i, tenant_id=m.tenant_id, user_id=m.user_id, role=m.role, token=m.access_token)
        for i, m in enumerate(members)
    ]
    planned = _bodies(connections, messages=args.messages + args.warmup, senders=args.senders, run=run)
    # A server stopped by a signal leaves its channels in the groups: start each server clean.
    stack.redis_flush(env["REDIS_URL"])
    with stack.running_server(spec, env) as (process, port), stack.running_worker(env) as worker:
        _wait_for_worker(worker)
        outcome = asyncio.run(
            _run(port=port, process=process, worker=worker, clients=clients, planned=planned, args=args)
        )
    texts = outcome["measured_texts"]
    expected, stored_at = _expected_recipients(clients, texts)
    sent_at, sent_wall = outcome["poster"].sent_at, outcome["poster"].sent_wall
    # Split of the delay: POST → message row saved by the worker (wall clocks of two processes).
    to_stored = sorted(1000 * (stored_at[t] - sent_wall[t]) for t in texts if t in stored_at and t in sent_wall)
    delays, first, last = [], [], []
    missing = delivered = 0
    by_index = {c.index: c for c in clients}
    for text in texts:
        audience = expected.get(text, set())
        if text not in sent_at:
            continue
        arrivals = []
        for index in audience:
            arrived = by_index[index].received.get(text)
            if arrived is None:
                missing += 1
            else:
                arrivals.append(1000 * (arrived - sent_at[text]))
        delivered += len(arrivals)
        delays += arrivals
        if arrivals:
            first.append(min(arrivals))
            last.append(max(arrivals))
    unexpected = sum(
        1 for c in clients for text in c.received if text in expected and c.index not in expected[text]
    )  # fmt: skip
    for values in (delays, first, last):
        values.sort()
    ended = [c for c in clients if c.ended]
    if ended:
        stack.say(
            f"{len(ended)} sockets ended during the run, e.g. {ended[0].role} #{ended[0].index}: {ended[0].ended}"
        )
    poster = outcome["poster"]
    return {
        "server": spec.label + (" + queue (core) layer" if os.environ.get("CHANNEL_LAYER") == "core" else ""),
        "clients": outcome["connected"],
        "connect_retries": outcome["connect_retries"],
        "connect_seconds": outcome["connect_seconds"],
        "messages": len(texts),
        "stored": len(expected),
        "statuses": dict(poster.statuses),
        "post_p95": stack.percentile(sorted(poster.post_ms), 95),
        "deliveries": delivered,
        "missing": missing,
        "foreign": sum(c.foreign for c in clients),
        "unexpected": unexpected,
        "p50": stack.percentile(delays, 50),
        "p95": stack.percentile(delays, 95),
        "p99": stack.percentile(delays, 99),
        "max": delays[-1] if delays else float("nan"),
        "first_p95": stack.percentile(first, 95),
        "last_p95": stack.percentile(last, 95),
        "rss_connected_mb": outcome["rss_connected"] / 2**20,
        "rss_peak_mb": outcome["rss_peak"] / 2**20,
        "rate": args.rate,
        "achieved_rate": len(texts) / outcome["posting_seconds"],
        "loop_lag_p99": outcome["loop_lag_p99"],
        "sockets_ended": len(ended),
        "fanout": delivered / max(1, len(texts)),
        "stored_p50": stack.percentile(to_stored, 50),
        "stored_p95": stack.percentile(to_stored, 95),
        "cpu_percent": outcome["cpu_percent"],
        "server_cpu_ms_per_delivery": 1000 * outcome["cpu_seconds"]["server"] / max(1, delivered),
    }


def _wait_for_worker(worker: stack.Process, timeout: float = 60) -> None:
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"the Celery worker exited:\n{worker.tail()}")
        if app.control.ping(timeout=1):
            return
    raise RuntimeError(f"the Celery worker did not answer a ping in {timeout} s:\n{worker.tail()}")


def rows_for(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        non_200 = sum(n for status, n in r["statuses"].items() if status != 200)
        ok = r["missing"] == 0 and r["foreign"] == 0 and r["unexpected"] == 0 and non_200 == 0
        ok = ok and not r["sockets_ended"]
        rows.append(
            {
                "figure": f"{r['server']}: webhook POST → message.created, {r['clients']} clients",
                "value": (
                    f"p50 {r['p50']:.0f} / p95 {r['p95']:.0f} / p99 {r['p99']:.0f} ms (max {r['max']:.0f}) over "
                    f"{r['deliveries']:,} deliveries of {r['messages']} messages at {r['achieved_rate']:.1f}/s "
                    f"(fan-out {r['fanout']:.0f}; last recipient p95 {r['last_p95']:.0f} ms) · "
                    f"{r['missing']} missing, {r['foreign'] + r['unexpected']} to the wrong clients"
                    + (f", {r['sockets_ended']} sockets closed early" if r["sockets_ended"] else "")
                    + (f", {non_200} POSTs not 200" if non_200 else "")
                    + f" · of which POST → message saved by the worker p50 {r['stored_p50']:.0f} / p95 "
                    f"{r['stored_p95']:.0f} ms · CPU % of a core: "
                    + ", ".join(f"{name} {value:.0f}" for name, value in r["cpu_percent"].items())
                    + f" · server CPU {r['server_cpu_ms_per_delivery']:.2f} ms per delivered message.created"
                    " (a received message's only frame: it carries its ticket)"
                ),
                "target": f"p95 < {TARGET_P95_MS} ms, all delivered to the right clients",
                "met": r["p95"] < TARGET_P95_MS and ok,
            }
        )
        rows.append(
            {
                "figure": f"{r['server']}: server RSS with {r['clients']} sockets",
                "value": (
                    f"{r['rss_connected_mb']:.0f} MB connected, {r['rss_peak_mb']:.0f} MB peak during the run · "
                    f"{r['clients']} connected in {r['connect_seconds']:.0f} s, "
                    f"{r['connect_retries']} handshakes retried"
                ),
                "target": f"< {TARGET_RSS_MB} MB",
                "met": r["rss_peak_mb"] < TARGET_RSS_MB,
            }
        )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="daphne,uvicorn,granian", help=f"of {', '.join(stack.SERVERS)}")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200, help="measured webhooks per server")
    parser.add_argument("--warmup", type=int, default=10, help="webhooks sent before measuring")
    parser.add_argument("--rate", type=float, default=5, help="webhooks per second")
    parser.add_argument("--senders", type=int, default=20, help="customers per tenant")
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for deliveries")
    parser.add_argument(
        "--deflate", action="store_true", help="offer permessage-deflate, as browsers do (costs CPU on both ends)"
    )
    parser.add_argument("--no-report", action="store_true", help="print only, do not append to PERFORMANCE.md")
    args = parser.parse_args(argv)
    specs = [stack.SERVERS[name.strip()] for name in args.servers.split(",") if name.strip()]

    results = []
    with stack.bench_stores() as (database_url, redis_url):
        # Tokens are issued once for every server's run: let them outlive a long run.
        env = stack.process_env(database_url, redis_url, JWT_ACCESS_MINUTES="600")
        stack.say(f"fresh database {database_url.rpartition('/')[2]}, Redis {redis_url}")
        stack.migrate(env)
        stack.django_setup(env)
        connections, members = _fixtures(tenants=args.tenants, clients=args.clients)
        stack.say(f"{len(connections)} tenants, {len(members)} members with tokens")
        for n, spec in enumerate(specs):
            result = measure(spec, env=env, args=args, run=f"{n}", connections=connections, members=members)
            results.append(result)
            for row in rows_for([result]):
                stack.say(f"{row['figure']}: {row['value']}")
        rows = rows_for(results)
        loop_lag = max(r["loop_lag_p99"] for r in results)
        notes = (
            f"{args.clients} WebSocket clients (websockets, one asyncio process, "
            f"{'offering permessage-deflate' if args.deflate else 'without compression'}) over {args.tenants} "
            "tenants, a tenth supervisors; each server alone with one worker process, DEBUG off, and one "
            "Celery worker (prefork, concurrency 2, as `make run`). Webhooks POSTed "
            f"to the same server at {args.rate}/s from {args.senders} customers per tenant; a message goes to "
            "every member of its tenant while its ticket waits unassigned without a queue (fan-out = "
            "deliveries per message). Delays are per delivery, POST start → frame read by the client; the "
            f"clients' own event-loop lag (p99 {loop_lag:.1f} ms) is part of them."
        )
        print()
        for row in rows:
            print(f"  {row['figure']}: {row['value']}")
        if not args.no_report:
            from bench import report

            report.append("Real time", rows, notes)
            stack.say("appended to docs/PERFORMANCE.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
