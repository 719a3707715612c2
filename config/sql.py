"""Model instances from hand-written SQL, for the few hot paths where building the ORM query costs
more than running it (the inbound pipeline runs its queries once per received message).

`columns(Model, "alias")` is the select list of a model's concrete fields, in field order, and
`instance(Model, row, start)` builds the instance from that slice of a row as the ORM would: the
fields' database converters (JSON, encrypted text…) applied, then `Model.from_db`. The caller
still filters by tenant in its WHERE clause: raw SQL bypasses the tenant-scoped managers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model


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
