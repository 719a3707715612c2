"""Values read once per batch of work instead of once per item.

The inbound workers apply 20 received messages in one transaction (whatsapp.inbound); some of what
each message asks is the same for all of them — the tenant's flows that messages may trigger,
whether it has sent campaign messages lately, whether an AI agent answers new tickets. Inside
`batch_memo()` such a read is made once and reused; outside it (a single event, a view, a test)
`batch_memoized` simply reads. A value may thus be as old as the batch (a fraction of a second):
use it only where that is as good as a read a moment earlier.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

_memo: ContextVar[dict | None] = ContextVar("prosa_batch_memo", default=None)


@contextmanager
def batch_memo() -> Iterator[None]:
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def batch_memoized(key: Hashable, load: Callable[[], T]) -> T:
    memo = _memo.get()
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


def in_batch() -> bool:
    """Whether reads are memoized now: a shortcut that costs a read of its own pays only here."""
    return _memo.get() is not None
