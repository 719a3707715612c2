"""The launcher's pieces that can be checked without starting a second stack."""

import socket

from config.devserver import _test_redis_url
from config.embedded import free_port, port_is_free
from config.testing import xdist_worker_environ


def test_tests_get_their_own_redis_database():
    assert _test_redis_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/15"
    assert _test_redis_url("redis://:secret@redis.internal:6380") == "redis://:secret@redis.internal:6380/15"


def test_each_parallel_test_worker_gets_its_own_redis_database_and_channel_prefix():
    base = {"REDIS_URL": "redis://127.0.0.1:6379/15"}
    first = xdist_worker_environ({**base, "PYTEST_XDIST_WORKER": "gw0"})
    second = xdist_worker_environ({**base, "PYTEST_XDIST_WORKER": "gw1", "CHANNELS_PREFIX": "ws"})
    assert first["REDIS_URL"] == "redis://127.0.0.1:6379/15"
    assert second["REDIS_URL"] == "redis://127.0.0.1:6379/14"
    assert (first["CHANNELS_PREFIX"], second["CHANNELS_PREFIX"]) == ("prosa-ws-gw0", "ws-gw1")
    assert first["CACHE_KEY_PREFIX"] != second["CACHE_KEY_PREFIX"]
    # A server or worker started by a test inherits the shifted values and keeps them.
    assert xdist_worker_environ({**base, "PYTEST_XDIST_WORKER": "gw1", **second}) == {}
    assert xdist_worker_environ(base) == {}


def test_a_busy_preferred_port_is_replaced_by_a_free_one():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert not port_is_free(taken)
        chosen = free_port(taken)
        assert chosen != taken
        assert port_is_free(chosen)
