"""Tenant-first trigram indexes for crm.selectors.contact_search (the ticket list's search uses it).

Every contact query carries `tenant_id = …` (the tenant-filtered manager). With the trigram indexes
of 0002 alone, PostgreSQL answered `tenant_id = 1 AND <search text> LIKE '%larissa%'` through the
tenant's btree and evaluated the accent-folding expression on every one of the tenant's contacts
(140 ms for 30k contacts); with both columns in one GIN index (btree_gin) it takes the trigram path
(8 ms). The same for the number lookups. `make bench-inbox` shows the effect (docs/PERFORMANCE.md).
The expression is 0002's, so both stay equal to what contact_search compares."""

import importlib

from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations

SEARCH_TEXT = importlib.import_module("crm.migrations.0002_contact_search_indexes").SEARCH_TEXT


def _index(name: str, columns: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON crm_contact USING gin ({columns})",
        reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0004_default_pipelines_and_beat")]

    operations = [
        BtreeGinExtension(),
        _index("crm_contact_tenant_search_trgm", f"tenant_id, ({SEARCH_TEXT}) gin_trgm_ops"),
        _index("crm_contact_tenant_phone_trgm", "tenant_id, phone gin_trgm_ops"),
        _index("crm_contact_tenant_wa_id_trgm", "tenant_id, wa_id gin_trgm_ops"),
        # Superseded by the first: every search is within a tenant.
        migrations.RunSQL(
            "DROP INDEX CONCURRENTLY IF EXISTS crm_contact_search_trgm",
            reverse_sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS crm_contact_search_trgm ON crm_contact "
            f"USING gin (({SEARCH_TEXT}) gin_trgm_ops)",
        ),
    ]
