"""The one-command launcher behind `make run` and `make test`.

    python -m config.devserver run        # services, migrate, demo data, web + worker + beat
    python -m config.devserver test [ARGS] # services, then pytest ARGS
    python -m config.devserver services   # only the embedded services, until Ctrl-C

PostgreSQL and Redis are embedded (under .data/) unless DATABASE_URL / REDIS_URL point elsewhere.
Ctrl-C or SIGTERM stops every child, then the embedded servers, in that order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from config.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database, free_port, wait_for_port
from whatsapp.demo_graph import DEMO_APP_SECRET, DEMO_WEBHOOK_SECRET

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PROSA_DATA_DIR", BASE_DIR / ".data"))
# While embedded servers run, their URLs are here, so `manage.py ...` in another terminal finds
# them (config/settings.py reads this file when the environment does not name servers).
SERVICES_ENV = DATA_DIR / "run" / "services.env"
PYTHON = sys.executable
STOP_GRACE_SECONDS = 15


def say(message: str) -> None:
    print(f"[prosa] {message}", flush=True)


class Services:
    """Starts what the environment does not already provide; stops only what it started."""

    def __init__(self, *, publish_urls: bool = False) -> None:
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.publish_urls = publish_urls

    def start(self) -> None:
        if os.environ.get("DATABASE_URL"):
            say("using DATABASE_URL from the environment")
            ensure_database(os.environ["DATABASE_URL"])
        else:
            self.postgres = EmbeddedPostgres(DATA_DIR, int(os.environ.get("EMBEDDED_POSTGRES_PORT", 54329)))
            self.postgres.start()
            os.environ["DATABASE_URL"] = self.postgres.url
        if os.environ.get("REDIS_URL"):
            say("using REDIS_URL from the environment")
        else:
            self.redis = EmbeddedRedis(DATA_DIR, int(os.environ.get("EMBEDDED_REDIS_PORT", 63799)))
            self.redis.start()
            os.environ["REDIS_URL"] = self.redis.url
        self._write_services_env()

    def _write_services_env(self) -> None:
        if not self.publish_urls:
            return
        lines = []
        if self.postgres is not None:
            lines.append(f"DATABASE_URL={self.postgres.url}")
        if self.redis is not None:
            lines.append(f"REDIS_URL={self.redis.url}")
        if lines:
            SERVICES_ENV.parent.mkdir(parents=True, exist_ok=True)
            SERVICES_ENV.write_text("\n".join(lines) + "\n")

    def stop(self) -> None:
        if self.publish_urls:
            SERVICES_ENV.unlink(missing_ok=True)
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], check=True, cwd=BASE_DIR)


class Supervisor:
    """Runs the long-lived processes; if one dies, or on a signal, stops them all."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def spawn(self, name: str, args: list[str]) -> None:
        # Own session: a terminal's Ctrl-C reaches only the launcher, which then stops children in order.
        self.children[name] = subprocess.Popen(args, cwd=BASE_DIR, start_new_session=True)

    def request_stop(self, signum, _frame) -> None:
        if not self.stopping:
            say(f"received {signal.Signals(signum).name}, stopping…")
        self.stopping = True

    def wait(self) -> int:
        while not self.stopping:
            for name, child in self.children.items():
                code = child.poll()
                if code is not None:
                    say(f"{name} exited with code {code}; stopping everything")
                    self.stopping = True
                    return_code = code or 1
                    self.stop_all()
                    return return_code
            time.sleep(0.3)
        self.stop_all()
        return 0

    def stop_all(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, child in self.children.items():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in {STOP_GRACE_SECONDS}s; killing it")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def _install_signal_handlers(handler) -> None:
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run() -> int:
    os.environ.setdefault("DEBUG", "1")
    port = int(os.environ.get("PORT", 8000))
    services = Services(publish_urls=True)
    supervisor = Supervisor()
    _install_signal_handlers(supervisor.request_stop)
    try:
        services.start()
        manage("migrate", "--noinput")
        demo = os.environ.get("PROSA_DEMO", "1") != "0"
        graph_port = free_port(int(os.environ.get("DEMO_GRAPH_PORT", 8790)))
        if demo:
            manage("seed_demo", "--graph-url", f"http://127.0.0.1:{graph_port}")
        if supervisor.stopping:
            return 0
        if demo:
            # The demo connection talks to a bundled fake Graph API that reports delivered/read back.
            supervisor.spawn(
                "demo-graph",
                [PYTHON, "-m", "whatsapp.demo_graph", "--port", str(graph_port), "--app-secret", DEMO_APP_SECRET,
                 "--webhook-url", f"http://127.0.0.1:{port}/webhooks/whatsapp/cloud/{DEMO_WEBHOOK_SECRET}/"],
            )  # fmt: skip
        bin_dir = Path(PYTHON).parent
        # uvicorn (uvloop, httptools): chosen on the numbers of docs/PERFORMANCE.md over daphne and
        # granian. No lifespan (Django and Channels do not speak it); SIGTERM closes sockets within 5 s.
        supervisor.spawn(
            "web",
            [str(bin_dir / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
             "--lifespan", "off", "--timeout-graceful-shutdown", "5"],
        )  # fmt: skip
        supervisor.spawn(
            "worker", [PYTHON, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "--concurrency", "2"]
        )
        beat_schedule = DATA_DIR / "run" / "celerybeat.pid"
        beat_schedule.parent.mkdir(parents=True, exist_ok=True)
        supervisor.spawn(
            "beat",
            [PYTHON, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "--pidfile", "",
             "-S", "django_celery_beat.schedulers:DatabaseScheduler"],
        )  # fmt: skip
        if wait_for_port(port, 60):
            say(f"Prosa is up: http://127.0.0.1:{port}/admin/  ·  API docs http://127.0.0.1:{port}/api/docs/")
            say("Ctrl-C stops everything.")
        return supervisor.wait()
    finally:
        supervisor.stop_all()
        services.stop()
        say("stopped cleanly")


def _test_redis_url(url: str) -> str:
    """Tests flush their Redis database: give them one of their own (TEST_REDIS_DB, default 15)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{os.environ.get('TEST_REDIS_DB', '15')}"))


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def test(args: list[str]) -> int:
    services = Services()
    _install_signal_handlers(_raise_keyboard_interrupt)
    try:
        services.start()
        env = dict(os.environ, REDIS_URL=_test_redis_url(os.environ["REDIS_URL"]), PROSA_TEST_REDIS_RESERVED="1")
        code = subprocess.run([PYTHON, "-m", "pytest", *args], cwd=BASE_DIR, env=env).returncode
        if code == 5:
            say("pytest collected no tests: that is a failure, not a pass")
            return 1
        return code
    except KeyboardInterrupt:
        return 130
    finally:
        services.stop()


def services_only() -> int:
    services = Services(publish_urls=True)
    stop = []
    _install_signal_handlers(lambda signum, frame: stop.append(signum))
    try:
        services.start()
        say(f"export DATABASE_URL={os.environ['DATABASE_URL']} REDIS_URL={os.environ['REDIS_URL']}")
        say("Ctrl-C stops the services.")
        while not stop:
            time.sleep(0.3)
        return 0
    finally:
        services.stop()


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("run", [])
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if command == "run":
        return run()
    if command == "test":
        return test(rest)
    if command == "services":
        return services_only()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
