"""A live Prosa for the HTTP/WebSocket benchmarks: a fresh database, the ASGI server (or another
candidate) started as a real process, a Celery worker, and the data the load needs.

The database and Redis DB are the bench's own and are wiped at every run:
    BENCH_DATABASE_URL  default: DATABASE_URL's server (or an embedded one) with database `prosa_bench_live`
    BENCH_REDIS_URL     default: REDIS_URL's server (or an embedded one) with DB 14 (the tests use 15)
The database is dropped and created again: never point BENCH_DATABASE_URL at data you want to keep
(`prosa_bench_live` is not the seeded `prosa_bench` of bench-seed/bench-inbox, which it leaves alone).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
OUT_DIR = BASE_DIR / "bench" / ".out"
BIN_DIR = Path(sys.executable).parent
PYTHON = sys.executable
DEFAULT_DB = "/prosa_bench_live"
DEFAULT_REDIS_DB = "/14"


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --- data stores ----------------------------------------------------------------------------------


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


@contextlib.contextmanager
def bench_stores():
    """Yields (database_url, redis_url) of a freshly created bench database and a flushed Redis DB.

    Without DATABASE_URL/REDIS_URL in the environment, starts the embedded servers the way
    `make test` does (config.devserver.Services) and stops them afterwards."""
    from config.devserver import Services

    services = Services()
    services.start()
    try:
        database_url = os.environ.get("BENCH_DATABASE_URL") or _with_path(os.environ["DATABASE_URL"], DEFAULT_DB)
        redis_url = os.environ.get("BENCH_REDIS_URL") or _with_path(os.environ["REDIS_URL"], DEFAULT_REDIS_DB)
        database_recreate(database_url)
        redis_flush(redis_url)
        yield database_url, redis_url
    finally:
        services.stop()


def database_recreate(url: str) -> None:
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    name = name.split("?")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def process_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of every process of the bench (servers, worker, the driver's own Django).

    Production-like: DEBUG off (no SQL kept in memory), INFO logs as JSON lines — written to a file
    under bench/.out/, as a process manager would collect them."""
    env = dict(os.environ)
    for name in ("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG=os.environ.get("BENCH_DEBUG", "0"),
        DJANGO_SETTINGS_MODULE="bench.settings",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True)


def django_setup(env: dict[str, str]) -> None:
    """Configures Django in this (driver) process against the bench stores."""
    os.environ.update(env)
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


# --- servers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSpec:
    """One way of serving the app. `workers` processes where the server has them (daphne: one)."""

    name: str
    kind: str  # daphne | uvicorn | granian | gunicorn | granian-wsgi
    workers: int = 1
    app: str = "config.asgi:application"
    env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name} ×{self.workers}" if self.kind != "daphne" else self.name

    def command(self, port: int) -> list[str]:
        return [*self._command(port), *self.extra_args]

    def _command(self, port: int) -> list[str]:
        host = "127.0.0.1"
        if self.kind == "daphne":
            # What `make run` launched before uvicorn was chosen (the reference).
            return [str(BIN_DIR / "daphne"), "-b", host, "-p", str(port), self.app]
        if self.kind == "uvicorn":
            return [str(BIN_DIR / "uvicorn"), self.app, "--host", host, "--port", str(port),
                    "--workers", str(self.workers), "--loop", "uvloop", "--http", "httptools",
                    "--lifespan", "off", "--no-access-log", "--log-level", "warning"]  # fmt: skip
        if self.kind == "granian":
            # asginl: ASGI without the lifespan protocol, which Django and Channels do not speak.
            return [str(BIN_DIR / "granian"), "--interface", "asginl", "--host", host, "--port", str(port),
                    "--workers", str(self.workers), "--log-level", "warning", self.app]  # fmt: skip
        if self.kind == "granian-wsgi":
            return [str(BIN_DIR / "granian"), "--interface", "wsgi", "--host", host, "--port", str(port),
                    "--workers", str(self.workers), "--blocking-threads", "4", "--log-level", "warning",
                    self.app]  # fmt: skip
        if self.kind == "gunicorn":
            # docker-compose's `web` service: production's HTTP server.
            return [str(BIN_DIR / "gunicorn"), self.app, "--bind", f"{host}:{port}",
                    "--workers", str(self.workers), "--threads", "4", "--log-level", "warning"]  # fmt: skip
        raise ValueError(f"unknown server kind {self.kind!r}")


SERVERS = {
    "daphne": ServerSpec("daphne", "daphne"),
    # Without the access log on stdout that `make run`'s daphne writes (the others write none).
    "daphne-quiet": ServerSpec("daphne (no access log)", "daphne", extra_args=("-v", "0")),
    "uvicorn": ServerSpec("uvicorn", "uvicorn"),
    "granian": ServerSpec("granian", "granian"),
    "uvicorn2": ServerSpec("uvicorn", "uvicorn", workers=2),
    "granian2": ServerSpec("granian", "granian", workers=2),
    # Production's HTTP path (docker-compose `web`), for comparison: WSGI, persistent DB connections.
    "gunicorn2": ServerSpec(
        "gunicorn (WSGI)", "gunicorn", workers=2, app="config.wsgi:application", env={"CONN_MAX_AGE": "60"}
    ),  # fmt: skip
    "granian-wsgi2": ServerSpec(
        "granian (WSGI)", "granian-wsgi", workers=2, app="config.wsgi:application", env={"CONN_MAX_AGE": "60"}
    ),  # fmt: skip
}


def wait_for_http(port: int, path: str = "/healthz", timeout: float = 60) -> bool:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child in its own session (so it and its workers stop together), output to a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = OUT_DIR / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def rss_bytes(self) -> int:
        """Resident memory of the process and its children (a multi-worker server's workers)."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.NoSuchProcess:
            return 0

    def stop(self, grace: float = 10) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def running_server(spec: ServerSpec, env: dict[str, str]):
    """Yields (process, port) once the server answers HTTP."""
    port = free_port()
    process = Process(f"server-{spec.kind}-{spec.workers}", spec.command(port), {**env, **spec.env})
    try:
        if not wait_for_http(port):
            raise RuntimeError(f"{spec.label} did not come up:\n{process.tail()}")
        yield process, port
    finally:
        process.stop()


@contextlib.contextmanager
def running_worker(env: dict[str, str], concurrency: int = 2):
    """A Celery worker of the project's app, as `make run` starts it (prefork, concurrency 2)."""
    process = Process(
        "celery-worker",
        [PYTHON, "-m", "celery", "-A", "config", "worker", "-l", "WARNING", "--concurrency", str(concurrency)],
        env,
    )
    try:
        yield process
    finally:
        process.stop(grace=20)


def machine_info() -> dict[str, str]:
    import platform

    import psutil

    return {
        "cpus": str(psutil.cpu_count()),
        "ram_gb": f"{psutil.virtual_memory().total / 2**30:.0f}",
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]
