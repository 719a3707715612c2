"""Per-tenant counters (ticket protocol numbers), advanced by one atomic UPSERT.

`INSERT … ON CONFLICT (tenant_id, name) DO UPDATE SET value = value + 1 RETURNING value` creates the
counter on first use and increments it otherwise in a single statement: two transactions that
open tickets at the same time get different numbers (the second waits for the first's row lock),
and no number is ever handed out twice. A rolled-back transaction leaves a gap, which is fine for
protocols (they must be unique and increasing, not dense).

The row lock lasts until the transaction that took the number commits. A long transaction that
opens tickets — an inbound batch of 20 messages — would make every other worker opening a ticket
of the tenant wait for all of it; so such a batch reserves the numbers it may need first, outside
its transaction (`protocols_reserved`: one UPSERT that adds n, the lock held for that statement
only), and takes them from the reservation inside. Numbers reserved and not used are gaps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection

from tenants.models import Tenant
from tickets.models import TenantSequence

PROTOCOL = "ticket_protocol"

# By tenant id: the protocol numbers reserved for the running batch and not taken yet.
_reserved: ContextVar[dict[int, Iterator[int]] | None] = ContextVar("prosa_protocols_reserved", default=None)


def sequence_next(*, tenant: Tenant, name: str) -> int:
    """The next value of the tenant's counter `name` (1 the first time)."""
    return sequence_advance(tenant_id=tenant.pk, name=name, by=1)[-1]


def sequence_advance(*, tenant_id: int, name: str, by: int) -> range:
    """The next `by` values of the tenant's counter `name`, taken in one statement."""
    table = connection.ops.quote_name(TenantSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, name, value) VALUES (%s, %s, %s) "  # noqa: S608 — table name only
            f"ON CONFLICT (tenant_id, name) DO UPDATE SET value = {table}.value + EXCLUDED.value RETURNING value",
            [tenant_id, name, by],
        )
        last = cursor.fetchone()[0]
    return range(last - by + 1, last + 1)


@contextmanager
def protocols_reserved(*, tenant_id: int, count: int) -> Iterator[None]:
    """Reserve `count` protocol numbers of the tenant for the work inside: `ticket_protocol_next`
    takes them in order, then (if the work opens more tickets than foreseen) the counter again.
    Call it outside a transaction, so the counter is locked only while reserving."""
    if count <= 0:
        yield
        return
    numbers = iter(sequence_advance(tenant_id=tenant_id, name=PROTOCOL, by=count))
    token = _reserved.set({**(_reserved.get() or {}), tenant_id: numbers})
    try:
        yield
    finally:
        _reserved.reset(token)


def ticket_protocol_next(*, tenant: Tenant) -> int:
    numbers = (_reserved.get() or {}).get(tenant.pk)
    reserved = next(numbers, None) if numbers is not None else None
    return reserved if reserved is not None else sequence_next(tenant=tenant, name=PROTOCOL)
