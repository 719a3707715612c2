"""Benchmark 1 of issue 6, webhook intake: how many signed Cloud webhooks per second the server
accepts (200 = stored), at what latency, and that every 200 is a stored InboundEvent.

    make bench-intake                     # every candidate server
    python -m bench.webhook_intake --servers daphne,uvicorn --duration 20 --connections 32

For each server (started as its own process, as `make run` starts daphne): wrk on loopback POSTs
distinct pre-signed bodies (bench/webhook_intake.lua) at the connection's webhook URL, then counts
the stored rows. Baselines in the same run, same server, same wrk settings and bodies: an empty
Django view (bench.urls, through the whole middleware stack) and, per server kind, a bare ASGI
app without Django (bench/asgi_hello.py) — the server's own ceiling.

Celery processing is not part of the figure: the view enqueues to the bench Redis (the realistic
cost of intake) but no worker runs; the queue is flushed after each server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import stack

TARGET_RPS = 1000
TARGET_P99_MS = 100
# Distinct bodies per measured run: duration × this rate (a wrapped-around body is a duplicate).
MAX_EXPECTED_RPS = 5000
DEFAULT_SERVERS = "daphne,uvicorn,granian,uvicorn2,granian2,daphne-pool,gunicorn2"


def _servers(names: str) -> list[stack.ServerSpec]:
    specs = []
    for name in names.split(","):
        name = name.strip()
        if name.endswith("-pool"):
            base = stack.SERVERS[name.removesuffix("-pool")]
            specs.append(
                stack.ServerSpec(
                    f"{base.name} + DB pool",
                    base.kind,
                    base.workers,
                    base.app,
                    {**base.env, "BENCH_DB_POOL": "1"},
                    base.extra_args,
                )
            )
        elif name:
            specs.append(stack.SERVERS[name])
    return specs


class Bodies:
    """Writes per-thread files of signed webhooks for one wrk run (a new message id per body)."""

    def __init__(self, connection, out_dir: Path, contacts: int = 1000) -> None:
        self.connection = connection
        self.out_dir = out_dir
        self.contacts = contacts
        self.runs = 0

    def generate(self, *, count: int, threads: int) -> Path:
        from bench.whatsapp_load import signed_text_webhook

        self.runs += 1
        directory = self.out_dir / f"bodies-{self.runs}"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        per_thread = -(-count // threads)
        serial = 0
        for thread in range(threads):
            with (directory / f"bodies_{thread}.txt").open("wb") as fh:
                for _ in range(per_thread):
                    serial += 1
                    body, signature = signed_text_webhook(
                        connection=self.connection,
                        wa_id=f"5511{(serial % self.contacts):09d}",
                        text=f"bench intake {self.runs}.{serial}",
                        name="Bench Customer",
                    )
                    fh.write(signature.encode() + b" " + body + b"\n")
        return directory


def wrk(*, url: str, path: str, bodies: Path, duration: int, connections: int, threads: int) -> dict:
    script = stack.BASE_DIR / "bench" / "webhook_intake.lua"
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script),
         url, "--", str(bodies), path],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next((line for line in result.stdout.splitlines() if line.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    data["rps"] = data["ok"] / (data["duration_us"] / 1e6)
    data["errors_total"] = sum(data["errors"].values())
    return data


def _cpu_seconds(process: stack.Process) -> float:
    import psutil

    try:
        root = psutil.Process(process.pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0.0


def _stored(connection) -> int:
    from whatsapp.models import InboundEvent

    return InboundEvent.all_tenants.filter(connection_id=connection.pk).count()


def measure_server(spec, *, env, connection, bodies: Bodies, args) -> dict:
    webhook_path = f"/webhooks/whatsapp/cloud/{connection.webhook_secret}/"
    empty_path = f"/bench/empty/{connection.webhook_secret}/"
    wrk_options = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
    with stack.running_server(spec, env) as (process, port):
        url = f"http://127.0.0.1:{port}"
        stack.say(f"{spec.label}: warming up")
        warm = bodies.generate(count=args.threads * 2000, threads=args.threads)
        wrk(url=url, path=webhook_path, bodies=warm, **{**wrk_options, "duration": args.warmup})
        wrk(url=url, path=empty_path, bodies=warm, **{**wrk_options, "duration": args.warmup})
        stack.say(f"{spec.label}: empty view (baseline)")
        baseline = wrk(url=url, path=empty_path, bodies=warm, **wrk_options)
        measured = bodies.generate(count=args.duration * MAX_EXPECTED_RPS, threads=args.threads)
        time.sleep(1)
        stored_before, cpu_before = _stored(connection), _cpu_seconds(process)
        stack.say(f"{spec.label}: signed webhooks")
        result = wrk(url=url, path=webhook_path, bodies=measured, **wrk_options)
        cpu_used = _cpu_seconds(process) - cpu_before
        rss = process.rss_bytes()
        time.sleep(1)  # requests wrk gave up on may still be finishing
        stored = _stored(connection) - stored_before
    shutil.rmtree(measured, ignore_errors=True)
    shutil.rmtree(warm, ignore_errors=True)
    stack.redis_flush(env["REDIS_URL"])  # the enqueued tasks nobody will run
    result.update(
        server=spec.label,
        baseline=baseline,
        stored=stored,
        # A 200 whose row is missing is lost; rows for requests wrk timed out on are not.
        lost=max(0, result["ok"] - stored) if not result["reused"] else None,
        server_cpu_ms_per_request=1000 * cpu_used / max(1, result["completed"]),
        rss_mb=rss / 2**20,
    )
    return result


def measure_hello(kind: str, *, env, bodies: Bodies, args) -> dict:
    spec = stack.ServerSpec(kind, kind, app="bench.asgi_hello:application")
    with stack.running_server(spec, env) as (_process, port):
        warm = bodies.generate(count=args.threads * 2000, threads=args.threads)
        options = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
        url = f"http://127.0.0.1:{port}"
        wrk(url=url, path="/hello", bodies=warm, **{**options, "duration": args.warmup})
        result = wrk(url=url, path="/hello", bodies=warm, **options)
    shutil.rmtree(warm, ignore_errors=True)
    result["server"] = kind
    return result


def _ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def rows_for(results: list[dict], hello: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        lat = r["latency_us"]
        lost = "lost unknown (bodies reused)" if r["lost"] is None else f"{r['lost']} lost"
        problems = [f"{r['ok']:,} × 200", f"{r['stored']:,} stored", lost]
        if r["refused"]:
            problems.append(f"{r['refused']:,} non-200")
        if r["errors_total"]:
            problems.append(f"{r['errors_total']:,} socket errors")
        met = r["rps"] >= TARGET_RPS and lat["p99"] / 1000 < TARGET_P99_MS and r["lost"] == 0
        rows.append(
            {
                "figure": f"{r['server']}: signed webhooks accepted",
                "value": " · ".join(
                    [
                        f"{r['rps']:,.0f} req/s",
                        f"p50 {_ms(lat['p50'])} / p95 {_ms(lat['p95'])} / p99 {_ms(lat['p99'])} ms",
                        ", ".join(problems),
                        f"server CPU {r['server_cpu_ms_per_request']:.2f} ms/req, RSS {r['rss_mb']:.0f} MB",
                    ]
                ),
                "target": f"≥ {TARGET_RPS:,} req/s, p99 < {TARGET_P99_MS} ms, 0 lost",
                "met": met,
            }
        )
        base = r["baseline"]
        rows.append(
            {
                "figure": f"{r['server']}: empty Django view (baseline)",
                "value": (
                    f"{base['rps']:,.0f} req/s · p99 {_ms(base['latency_us']['p99'])} ms"
                    f" · webhook/baseline {r['rps'] / max(1, base['rps']):.2f}"
                ),
            }
        )
    for h in hello:
        rows.append(
            {
                "figure": f"{h['server']}: bare ASGI app, no Django (server ceiling)",
                "value": f"{h['rps']:,.0f} req/s · p99 {_ms(h['latency_us']['p99'])} ms",
            }
        )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default=DEFAULT_SERVERS, help=f"comma-separated, of {', '.join(stack.SERVERS)}")
    parser.add_argument("--duration", type=int, default=20, help="seconds of each measured wrk run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32, help="wrk's concurrent connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves the cores to the server)")
    parser.add_argument("--no-hello", action="store_true", help="skip the bare-ASGI ceilings")
    parser.add_argument("--no-report", action="store_true", help="print only, do not append to PERFORMANCE.md")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (see bench/README.md)", file=sys.stderr)
        return 2
    specs = _servers(args.servers)

    with stack.bench_stores() as (database_url, redis_url):
        env = stack.process_env(database_url, redis_url)
        stack.say(f"fresh database {database_url.rpartition('/')[2]}, Redis {redis_url}")
        stack.migrate(env)
        stack.django_setup(env)
        from bench.whatsapp_load import tenant_with_connection

        _tenant, connection = tenant_with_connection(index=1)
        bodies = Bodies(connection, stack.OUT_DIR / "intake")
        results = []
        for spec in specs:
            result = measure_server(spec, env=env, connection=connection, bodies=bodies, args=args)
            results.append(result)
            stack.say(f"{spec.label}: {rows_for([result], [])[0]['value']}")
        hello = []
        if not args.no_hello:
            for kind in dict.fromkeys(s.kind for s in specs if s.kind in ("daphne", "uvicorn", "granian")):
                hello.append(measure_hello(kind, env=env, bodies=bodies, args=args))
                stack.say(f"{kind} bare ASGI: {hello[-1]['rps']:,.0f} req/s")
        rows = rows_for(results, hello)
        notes = (
            f"wrk on loopback, {args.threads} thread(s), {args.connections} connections, {args.duration} s per "
            f"measured run (closed loop: latency includes queueing behind the other connections); one distinct "
            f"signed Cloud text message per request, {bodies.contacts} senders. Servers started as their own "
            "processes with DEBUG off and INFO logs (JSON) to a file; one worker process unless ×2. Under ASGI "
            "the POSTs are taken by whatsapp/intake.py (verification cache, group commit, one Celery message "
            "per batch), under WSGI by the Django view; processing is enqueued to Redis but no Celery worker "
            "runs. `DB pool`: bench.settings with Django's "
            "psycopg pool (BENCH_DB_POOL=1); otherwise CONN_MAX_AGE=0 (a new PostgreSQL connection per "
            "request) — except the WSGI rows, run as docker-compose's `web` (CONN_MAX_AGE=60). "
            f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}."
        )
        print()
        for row in rows:
            print(f"  {row['figure']}: {row['value']}")
        if not args.no_report:
            from bench import report

            report.append("Webhook intake", rows, notes)
            stack.say("appended to docs/PERFORMANCE.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
