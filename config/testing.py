"""What the test runner needs from the settings, kept out of them (config/settings.py calls this
only under `make test`)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

_APPLIED = "PROSA_TEST_XDIST_APPLIED"


def xdist_worker_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that give a pytest-xdist worker (gw0, gw1, …) a Redis database and a channel
    prefix of its own: the reserved test database counting down (15 → 15, 14, …). Empty when they
    were already applied (a process started by a test inherits them)."""
    worker = environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or environ.get(_APPLIED) == worker:
        return {}
    index = int(worker[2:])
    parts = urlsplit(environ["REDIS_URL"])
    base_db = int(parts.path.lstrip("/") or 0)
    if index > base_db:
        raise RuntimeError(f"{worker} has no Redis database below {base_db}: use fewer workers")
    return {
        "REDIS_URL": urlunsplit(parts._replace(path=f"/{base_db - index}")),
        "CHANNELS_PREFIX": f"{environ.get('CHANNELS_PREFIX', 'prosa-ws')}-{worker}",
        "CACHE_KEY_PREFIX": f"{environ.get('CACHE_KEY_PREFIX', 'prosa')}-{worker}",
        _APPLIED: worker,
    }
