"""Model instances from hand-written SQL, for the few hot paths where building the ORM query costs
more than running it (the inbound pipeline runs its queries once per received message).

`columns(Model, "alias")` is the select list of a model's concrete fields, in field order, and
`instance(Model, row, start)` builds the instance from that slice of a row as the ORM would: the
fields' database converters (JSON, encrypted text…) applied, then `Model.from_db`. The caller
still filters by tenant in its WHERE clause: raw SQL bypasses the tenant-scoped managers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Lookup, Model


@functools.cache
def _fields(model: type[Model]) -> tuple[list[str], list[str], list[tuple[int, Callable, object]]]:
    concrete = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(concrete):
        if hasattr(field, "from_db_value"):
            converters.append((index, field.from_db_value, field.get_col(model._meta.db_table)))
    return [field.column for field in concrete], [field.attname for field in concrete], converters


def columns(model: type[Model], alias: str) -> str:
    return ", ".join(f'{alias}."{column}"' for column in _fields(model)[0])


def width(model: type[Model]) -> int:
    return len(_fields(model)[0])


def instance(model: type[Model], row: tuple, start: int = 0) -> Model:
    """The instance of `model` whose columns start at `row[start]` (see `columns`)."""
    _columns, attnames, converters = _fields(model)
    values = list(row[start : start + len(attnames)])
    if converters:
        connection = connections[DEFAULT_DB_ALIAS]
        for index, convert, expression in converters:
            values[index] = convert(values[index], expression, connection)
    return model.from_db(DEFAULT_DB_ALIAS, attnames, values)


@contextmanager
def prepared_statements(threshold: int = 5) -> Iterator[None]:
    """Inside, parameters are bound by the server and a statement run `threshold` times on the
    connection is prepared there (psycopg's ServerBindingCursor and prepare_threshold), so
    PostgreSQL parses and plans it once: for loops that run the same few statements many times
    (an inbound batch). Only there, not as the connection's default (Django's client-side
    binding): a prepared search may get a generic plan blind to its LIKE pattern, and psycopg
    sends a small int as int2, which the tenant column of the btree_gin trigram indexes cannot
    compare — the contact search then read every contact of the tenant (150 ms instead of 10).
    Nothing changes with DATABASE_PREPARED_STATEMENTS off (PgBouncer in transaction mode)."""
    if not settings.PREPARED_STATEMENTS:
        yield
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    raw = connection.connection
    previous = raw.cursor_factory, raw.prepare_threshold
    raw.cursor_factory, raw.prepare_threshold = ServerBindingCursor, threshold
    try:
        yield
    finally:
        raw.cursor_factory, raw.prepare_threshold = previous  # (a connection closed meanwhile is dropped)


class AnyOfSubquery(Lookup):
    """`column = ANY(ARRAY(subquery))`: PostgreSQL runs the subquery once, first (an InitPlan), then
    finds the column's rows for the ids it returned through the column's index. Written as
    `IN (subquery)`, the planner may join instead, and a misestimate of the subquery's rows (a
    trigram search) made it read every row of the outer table (the ticket search: all 60k tickets
    for 651 contacts, 35 ms instead of 3). Register it on the field where a query needs it."""

    lookup_name = "any_of"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if not rhs.startswith("("):
            rhs = f"({rhs})"
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]
