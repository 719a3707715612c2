"""Settings of the benchmarked processes: Prosa's own, plus a bench-only empty view (the baseline).

BENCH_DB_POOL=1 turns on Django's psycopg connection pool (a variant measured by
bench/webhook_intake.py; production settings do not use it yet).
"""

import os

from config.settings import *  # noqa: F403
from config.settings import DATABASES

ROOT_URLCONF = "bench.urls"

if os.environ.get("BENCH_DB_POOL") == "1":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # a pool and persistent connections exclude each other
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 4, "max_size": 16, "timeout": 10}
