"""A real ASGI server process on the test database, for tests that go over real sockets (the
WebSocket tests and the browser tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_database_url() -> str:
    """The test database (pytest-django's `test_…`), as DATABASE_URL for another process."""
    params = connection.settings_dict
    auth = params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"] else "")
    return f"postgres://{auth}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


@contextmanager
def daphne_serving(
    *, log: Path, env: dict[str, str | None], port: int | None = None, startup_seconds: float = 30
) -> Iterator[int]:
    """Runs daphne with config.asgi:application on `port` (a free one by default) until the block
    ends; yields the port once it accepts connections (fails the test with daphne's log otherwise).
    `env` adds to this process's environment; a None value removes the variable."""
    port = port or free_port()
    merged = {**os.environ, "DATABASE_URL": test_database_url(), **env}
    env = {name: value for name, value in merged.items() if value is not None}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                pytest.fail(f"daphne exited with {process.returncode}:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"daphne did not listen on {port} within {startup_seconds:.0f} s:\n{log.read_text()}")
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
