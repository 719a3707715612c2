"""Model instances from hand-written SQL, for the few hot paths where building the ORM query costs
more than running it (the inbound pipeline runs its queries once per received message).

`columns(Model, "alias")` is the select list of a model's concrete fields, in field order, and
`instance(Model, row, start)` builds the instance from that slice of a row as the ORM would: the
fields' database converters (JSON, encrypted text…) applied, then `Model.from_db`. The caller
still filters by tenant in its WHERE clause: raw SQL bypasses the tenant-scoped managers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
from django.db.models import Lookup, Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.files import FileDescriptor, ImageFileDescriptor
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute


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
    if not _init_is_plain(model):
        return model.from_db(DEFAULT_DB_ALIAS, attnames, values)
    # What Model.from_db → Model.__init__ leaves, without walking each field's descriptor and
    # sending pre_init/post_init with no one listening: 20 µs an instance, ~2 ms of a list page.
    new = model.__new__(model)
    new._state = state = ModelState()
    state.adding, state.db = False, DEFAULT_DB_ALIAS
    new.__dict__.update(zip(attnames, values, strict=True))
    return new


# Descriptors whose __set__, on a new instance, only stores the value in its __dict__.
_PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute, FileDescriptor)


@functools.cache
def _init_is_plain(model: type[Model]) -> bool:
    """Whether building an instance from its values is only filling its __dict__: no __init__ or
    from_db of its own, nobody listening to pre_init/post_init (ImageField's dimensions, say), and
    every field's attribute a plain descriptor."""
    return (
        model.__init__ is Model.__init__
        and model.from_db.__func__ is Model.from_db.__func__
        and not signals.pre_init.has_listeners(model)
        and not signals.post_init.has_listeners(model)
        and all(
            type(model.__dict__.get(field.attname)) in _PLAIN_DESCRIPTORS
            or isinstance(model.__dict__.get(field.attname), ImageFileDescriptor)
            and not (field.width_field or field.height_field)
            for field in model._meta.concrete_fields
        )
    )


# --- INSERT without the ORM's statement building ------------------------------------------------

# Values these fields pass to the database unchanged when they already have the column's Python
# type: Django's get_db_prep_save (conversions, checks) for each of a message's 31 columns was a
# twentieth of the inbound worker's time.
_PLAIN_FIELDS = (models.CharField, models.TextField, models.BooleanField, models.ForeignKey)
_PLAIN_TYPES = frozenset((str, int, bool))
_TEXT_FIELDS = (models.CharField, models.TextField)


@functools.cache
def _insert_statement(model: type[Model]) -> tuple[str, str, list[tuple[models.Field, bool]]]:
    """`INSERT … ON CONFLICT DO NOTHING RETURNING` of a model's fields (its auto id left to the
    database), written once per model; the returned columns; each field and whether its values
    may pass unconverted (`db_value`)."""
    meta = model._meta
    fields = [field for field in meta.local_concrete_fields if field is not meta.auto_field and not field.generated]
    quote = connection.ops.quote_name
    returning = ", ".join(quote(field.column) for field in meta.db_returning_fields)
    statement = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT DO NOTHING RETURNING {returning}"
    )
    return statement, returning, [(field, _plain(field)) for field in fields]


def _plain(field: models.Field) -> bool:
    return isinstance(field, _PLAIN_FIELDS) and not hasattr(field, "from_db_value")


def insert_fields(model: type[Model]) -> list[tuple[models.Field, bool]]:
    """The fields `insert` writes, in order, each with whether `db_value` may pass it unconverted."""
    return _insert_statement(model)[2]


def db_value(field: models.Field, plain: bool, value):
    """`field.get_db_prep_save(value)`, skipped where it would return the value unchanged."""
    if value is None or (
        plain and (type(value) in _PLAIN_TYPES or isinstance(value, str) and isinstance(field, _TEXT_FIELDS))
    ):
        return value  # (a str subclass — a choices enum — is what Django's CharField passes on too)
    if type(value) is datetime and value.tzinfo is not None and isinstance(field, models.DateTimeField):
        return value
    return field.get_db_prep_save(value, connections[DEFAULT_DB_ALIAS])


def insert(instance: Model, *, then: Iterable[tuple[str, list]] = ()) -> bool:
    """Write a new instance as `save()` would (`pre_save` fills the timestamps; the id and other
    returned columns are set on it), by `INSERT … ON CONFLICT DO NOTHING`: a row that any unique
    index refuses is not written — no error, no savepoint to recover from one — and the caller
    learns it from the result (False), then reads the row that is there. Inserting the row waits
    for a concurrent transaction inserting the same key, as the ORM's INSERT would.

    `then`: statements (and their parameters) run in the same statement, as CTEs after the
    insert, that may read the inserted row as `inserted` (no row when nothing was inserted: each
    must then change nothing) — a round trip to PostgreSQL fewer each.

    Raw SQL bypasses TenantOwned.save: the caller sets the tenant."""
    statement, returning, fields = _insert_statement(type(instance))
    values = [db_value(field, plain, field.pre_save(instance, True)) for field, plain in fields]
    if then:
        ctes = "".join(f", then{n} AS ({sql_text})" for n, (sql_text, _params) in enumerate(then))
        statement = f"WITH inserted AS ({statement}){ctes} SELECT {returning} FROM inserted"  # noqa: S608
        values += [param for _sql_text, params in then for param in params]
    with connection.cursor() as cursor:
        cursor.execute(statement, values)
        row = cursor.fetchone()
    if row is None:
        return False
    for value, field in zip(row, instance._meta.db_returning_fields, strict=True):
        setattr(instance, field.attname, value)
    instance._state.adding, instance._state.db = False, DEFAULT_DB_ALIAS
    return True


@functools.cache
def _update_statement(model: type[Model], names: tuple[str, ...]) -> tuple[str, list[tuple[models.Field, bool]]]:
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    where = f"{quote(meta.pk.column)} = %s" + (" AND tenant_id = %s" if _has_tenant(model) else "")
    statement = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}"  # noqa: S608
    return statement, [(field, _plain(field)) for field in fields]


def _has_tenant(model: type[Model]) -> bool:
    return any(field.attname == "tenant_id" for field in model._meta.concrete_fields)


def update(instance: Model, fields: Iterable[str]) -> None:
    """`instance.save(update_fields=fields)` (auto_now fields among them get the current time),
    by a statement written once per model and field list; for a tenant's row, within its tenant.
    Like `save()`, raises DatabaseError when no row was updated (gone, or another tenant's)."""
    statement, prepared = _update_statement(type(instance), tuple(fields))
    values = [db_value(field, plain, field.pre_save(instance, False)) for field, plain in prepared]
    values.append(instance.pk)
    if _has_tenant(type(instance)):
        values.append(instance.tenant_id)
    with connection.cursor() as cursor:
        cursor.execute(statement, values)
        if cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")


@contextmanager
def prepared_statements(threshold: int = 5) -> Iterator[None]:
    """Inside, parameters are bound by the server and a statement run `threshold` times on the
    connection is prepared there (psycopg's ServerBindingCursor and prepare_threshold), so
    PostgreSQL parses and plans it once: for loops that run the same few statements many times
    (an inbound batch), and fixed statements that every request runs (the API token's membership,
    a list page's tickets by id and their tags) on a connection that persists (CONN_MAX_AGE, a
    pool; the benchmarks' test client). Only there, not as the connection's default (Django's client-side
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
