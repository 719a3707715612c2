"""Appends one benchmark run to docs/PERFORMANCE.md, with what is needed to compare runs.

API (shared by every benchmark in bench/):

    from bench import report

    report.append(
        "Inbox list",                       # title of the section
        [                                   # one row per figure
            {"figure": "agent · mine · p95", "value": "12.3 ms", "target": "< 50 ms", "met": True},
            {"figure": "SQL queries per request", "value": 5},   # target and met are optional
        ],
        notes="What limits the figures, what changed since the last run.",
    )

Each row is a dict with `figure` and `value` (anything printable) and optionally `target` (text)
and `met` (True / False / None = not judged). The section starts with the date (UTC), the machine
(CPU model, cores, RAM from /proc), the git commit (short hash, "-dirty" when the working tree has
changes), the PostgreSQL and Redis versions (asked from DATABASE_URL / REDIS_URL, or Django's
settings when they are configured) and, when the environment variable BENCH_LABEL is set, that
label (e.g. "validation run, machine shared"). `append` returns the Markdown it wrote.

`machine()`, `commit()` and `versions()` are public too, for benchmarks that print them.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE_MD = ROOT / "docs" / "PERFORMANCE.md"

INTRO = """# Performance

What Prosa does per second on one machine, measured by the benchmarks in `bench/` (how to run
them: `bench/README.md`). Each run appends a section below with the date, the machine, the commit
and the database versions, so figures can be compared over time. Figures of runs marked
"machine shared" were taken while other work ran on the machine: they validate the benchmark,
not the code.

## What is measured, and the targets (2-core machine)

- **Data at scale** (`make bench-seed`): `seed_load` with 5 tenants, 100k tickets, 1M messages, 50k
  contacts — minutes, not hours.
- **Webhook intake**: signed Cloud webhooks POSTed at the server on loopback — ≥ 1,000 requests/s,
  p99 < 100 ms, 0 lost.
- **End-to-end inbound** (`make bench-inbound`): stored events processed by Celery workers into
  contacts, tickets and messages — ≥ 500 messages/s with the default worker settings; ≤ 12 SQL
  statements per message of an existing open ticket.
- **Inbox list** (`make bench-inbox`): `/api/v1/tickets/` per tab and filter for an agent and a
  supervisor of a tenant with 60k of the 100k tickets — p95 < 50 ms; the query count does not grow
  with the page size (pinned by tickets/tests/test_list_queries.py).
- **Real time**: 500 WebSocket clients, webhook POST → `message.created` at the right client —
  p95 < 200 ms; ASGI RSS < 300 MB.
- **Campaign dispatch** (with the campaigns feature): 10,000 recipients at 80 messages/s against
  the fake Graph API — within ±10% of the rate, 0 duplicates after a worker is killed.

Each benchmark also measures a baseline in the same run — the bare minimum the machine does for
the same work (raw INSERTs through psycopg, an empty view under the same server) — so figures are
also given as a ratio of that limit.

# Runs
"""


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> str:
    """ "AMD EPYC, 2 cores, 23.5 GiB RAM" from /proc (falls back to platform on other systems)."""
    cpuinfo = _read("/proc/cpuinfo")
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    cores = os.cpu_count() or 0
    ram = ""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            ram = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
            break
    return f"{model}, {cores} cores{ram}"


def commit() -> str:
    """Short hash of HEAD, with "-dirty" when tracked files have uncommitted changes."""

    def git(*args: str) -> str:
        try:
            result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return result.stdout.strip() if result.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}-dirty" if dirty else head


def _database_url() -> str:
    try:
        from django.conf import settings

        if settings.configured:
            db = settings.DATABASES["default"]
            user, host, port, name = db.get("USER"), db.get("HOST"), db.get("PORT"), db.get("NAME")
            password = db.get("PASSWORD")
            auth = f"{user}:{password}@" if password else f"{user}@"
            return f"postgresql://{auth}{host or '127.0.0.1'}:{port or 5432}/{name}"
    except ImportError:
        pass
    return os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/prosa")


def _redis_url() -> str:
    try:
        from django.conf import settings

        if settings.configured:
            return settings.REDIS_URL
    except ImportError:
        pass
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def versions() -> tuple[str, str]:
    """(PostgreSQL version, Redis version), "unknown" where the server could not be asked."""
    postgres = redis_version = "unknown"
    try:
        import psycopg

        url = _database_url().replace("postgres://", "postgresql://", 1)
        with psycopg.connect(url, connect_timeout=5) as conn:
            postgres = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    except Exception:  # noqa: BLE001 — a report without the version beats no report
        pass
    try:
        import redis

        redis_version = redis.Redis.from_url(_redis_url(), socket_timeout=5).info("server")["redis_version"]
    except Exception:  # noqa: BLE001
        pass
    return postgres, redis_version


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _met(row: dict) -> str:
    met = row.get("met")
    if met is None:
        return "–" if not row.get("target") else "not judged"
    return "✅ met" if met else "❌ not met"


def render(title: str, rows: list[dict], notes: str = "") -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    postgres, redis_version = versions()
    lines = [f"## {title} — {now}", ""]
    label = os.environ.get("BENCH_LABEL", "").strip()
    if label:
        lines += [f"**{label}**", ""]
    lines += [
        f"- machine: {machine()}",
        f"- commit: `{commit()}`",
        f"- PostgreSQL {postgres}, Redis {redis_version}, Python {platform.python_version()}",
        "",
        "| figure | value | target | met |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {_cell(row['figure'])} | {_cell(row['value'])} | {_cell(row.get('target', ''))} | {_met(row)} |"
        )
    if notes.strip():
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def append(title: str, rows: list[dict], notes: str = "", *, path: Path | None = None) -> str:
    """Appends a section to docs/PERFORMANCE.md (created with its introduction if missing)."""
    path = path or PERFORMANCE_MD
    section = render(title, rows, notes)
    if not path.exists():
        path.write_text(INTRO)
    with path.open("a") as fh:
        fh.write("\n" + section)
    return section
