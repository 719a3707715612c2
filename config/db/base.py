"""Django's PostgreSQL backend, reading timestamps with psycopg's C loader.

Django registers its own `timestamptz` loader on every connection: a subclass of psycopg's
pure-Python loader, so every timestamp read is parsed by a regular expression in Python (about
6 µs each, against 0.4 µs for psycopg's C loader) — a ticket list page reads some 350 of them, a
tenth of the request's CPU. Django needs its loader only to give the timestamps the time zone of
the connection; the C loader already does that: it reads the session's `TimeZone`, which Django
sets to its own (UTC under USE_TZ, `_configure_timezone`), and returns `datetime.timezone.utc`.

So when Django's connection time zone is UTC and psycopg runs its C implementation, connections
get the C loader, and cursors skip Django's per-cursor check of the loader's `timezone` attribute
(which the C class does not have). Statements bound on the server are logged with their values
(`DatabaseOperations.last_executed_query`). Otherwise this is Django's backend unchanged.
"""

from __future__ import annotations

import datetime
import functools

import psycopg
from django.db.backends.postgresql import base
from django.db.backends.postgresql.psycopg_any import get_adapters_template
from django.utils.asyncio import async_unsafe


def _c_timestamptz_loader():
    if psycopg.pq.__impl__ not in ("binary", "c"):
        return None
    if psycopg.pq.__impl__ == "binary":
        from psycopg_binary._psycopg import TimestamptzLoader
    else:  # pragma: no cover — psycopg[c], built locally
        from psycopg_c._psycopg import TimestamptzLoader
    return TimestamptzLoader


@functools.cache
def _adapters_template(use_tz: bool, timezone):
    """Django's adapters, with psycopg's C `timestamptz` loader (see the module's docstring)."""
    context = psycopg.adapt.AdaptersMap(get_adapters_template(use_tz, timezone))
    context.register_loader("timestamptz", _c_timestamptz_loader())
    return context


class DatabaseOperations(base.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        """A statement bound on the server (`config.sql.prepared_statements`) is logged with its
        values, as Django logs those it binds itself — not as `$1` placeholders, nor as nothing
        once it is prepared — so captured queries can be read and run again (bench-inbox)."""
        if params is not None and not isinstance(cursor, psycopg.ClientCursor):
            try:
                return self.compose_sql(sql, params)
            except psycopg.errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    @functools.cached_property
    def _timestamps_in_c(self) -> bool:
        return self.timezone is datetime.UTC and _c_timestamptz_loader() is not None

    def get_connection_params(self):
        params = super().get_connection_params()
        if self._timestamps_in_c and "context" in params:
            params["context"] = _adapters_template(True, self.timezone)
        return params

    @async_unsafe
    def create_cursor(self, name=None):
        if not self._timestamps_in_c:
            return super().create_cursor(name)
        # Django's create_cursor (5.2) without its time zone check: the connection's loader is
        # the C one, which gives every cursor the session's time zone, Django's own.
        if not name:
            return self.connection.cursor()
        if self.settings_dict["OPTIONS"].get("server_side_binding") is not True:
            return base.ServerSideCursor(
                self.connection, name=name, scrollable=False, withhold=self.connection.autocommit
            )
        return self.connection.cursor(name, scrollable=False, withhold=self.connection.autocommit)
