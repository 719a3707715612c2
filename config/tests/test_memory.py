"""config.memory: the processes that serve freeze what they loaded to start."""

import gc
import importlib
import sys

import pytest


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.parametrize("entry", ["config.wsgi", "config.asgi"])
def test_the_web_entry_points_freeze_their_startup_objects(entry, unfrozen):
    assert gc.get_freeze_count() == 0
    sys.modules.pop(entry, None)
    module = importlib.import_module(entry)
    assert module.application is not None
    assert gc.get_freeze_count() > 10_000  # Django, the URLconf and every view among them
    assert "tickets.api.views" in sys.modules


def test_a_worker_freezes_before_it_forks_its_pool(unfrozen):
    from celery.signals import worker_init

    from config import celery

    connected = [ref() for _key, ref in worker_init.receivers]
    assert celery._freeze_startup_objects in connected  # in the main process, before the pool
    celery._freeze_startup_objects(sender=None)
    assert gc.get_freeze_count() > 10_000
