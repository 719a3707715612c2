"""config.db: Django's PostgreSQL backend reading timestamps with psycopg's C loader."""

import datetime

import psycopg
import pytest
from django.db import connection, transaction
from psycopg.pq import Format

from tenants.models import Tenant
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

TIMESTAMPTZ_OID = 1184


def test_the_backend_is_ours_and_loads_timestamps_in_c():
    assert connection.settings_dict["ENGINE"] == "config.db"
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if psycopg.pq.__impl__ == "python":
        pytest.skip("psycopg without its C implementation: Django's own loader")
    assert loader.__module__.endswith("._psycopg")


def test_timestamps_read_are_the_instants_written_in_utc():
    written = datetime.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=-3)))
    tenant = TenantFactory()
    Tenant.objects.filter(pk=tenant.pk).update(created_at=written)
    read = Tenant.objects.values_list("created_at", flat=True).get(pk=tenant.pk)
    assert read == written and read.tzinfo is datetime.UTC
    assert read.isoformat() == "2026-03-01T15:30:15.123456+00:00"
    with connection.cursor() as cursor:  # raw SQL too, in a session whose time zone Django set
        cursor.execute("SELECT %s::timestamptz, current_setting('TimeZone')", [written])
        value, session_zone = cursor.fetchone()
    assert (value, value.tzinfo, session_zone) == (written, datetime.UTC, "UTC")


def test_server_side_cursors_read_timestamps_too():
    TenantFactory.create_batch(3)
    with transaction.atomic():  # .iterator() uses a named (server-side) cursor
        created = list(Tenant.objects.order_by("pk").values_list("created_at", flat=True).iterator(chunk_size=2))
    assert len(created) >= 3 and {value.tzinfo for value in created} == {datetime.UTC}


def test_statements_bound_on_the_server_are_logged_with_their_values():
    """Captured statements of `sql.prepared_statements` can be read and run again, prepared or not."""
    from django.test.utils import CaptureQueriesContext

    from config import sql

    with CaptureQueriesContext(connection) as captured, sql.prepared_statements(threshold=1):
        for _ in range(2):  # the second time, prepared
            with connection.cursor() as cursor:
                cursor.execute("SELECT %s::int + 1 WHERE 1 = ANY(%s)", [1, [1, 2]])
                assert cursor.fetchall() == [(2,)]
    assert [query["sql"] for query in captured.captured_queries] == [
        "SELECT 1::int + 1 WHERE 1 = ANY('{1,2}'::int2[])"
    ] * 2
