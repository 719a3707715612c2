"""The launcher's pieces that can be checked without starting a second stack."""

import socket

from config.devserver import _test_redis_url
from config.embedded import free_port, port_is_free


def test_tests_get_their_own_redis_database():
    assert _test_redis_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/15"
    assert _test_redis_url("redis://:secret@redis.internal:6380") == "redis://:secret@redis.internal:6380/15"


def test_a_busy_preferred_port_is_replaced_by_a_free_one():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert not port_is_free(taken)
        chosen = free_port(taken)
        assert chosen != taken
        assert port_is_free(chosen)
