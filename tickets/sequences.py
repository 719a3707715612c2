"""Per-tenant counters (ticket protocol numbers), advanced by one atomic UPSERT.

`INSERT … ON CONFLICT (tenant_id, name) DO UPDATE SET value = value + 1 RETURNING value` creates the
counter on first use and increments it otherwise in a single statement: two transactions that
open tickets at the same time get different numbers (the second waits for the first's row lock),
and no number is ever handed out twice. A rolled-back transaction leaves a gap, which is fine for
protocols (they must be unique and increasing, not dense).
"""

from django.db import connection

from tenants.models import Tenant
from tickets.models import TenantSequence

PROTOCOL = "ticket_protocol"


def sequence_next(*, tenant: Tenant, name: str) -> int:
    """The next value of the tenant's counter `name` (1 the first time)."""
    table = connection.ops.quote_name(TenantSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, name, value) VALUES (%s, %s, 1) "  # noqa: S608 — table name only
            f"ON CONFLICT (tenant_id, name) DO UPDATE SET value = {table}.value + 1 RETURNING value",
            [tenant.pk, name],
        )
        return cursor.fetchone()[0]


def ticket_protocol_next(*, tenant: Tenant) -> int:
    return sequence_next(tenant=tenant, name=PROTOCOL)
