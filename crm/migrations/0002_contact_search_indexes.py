"""Trigram indexes for crm.selectors.contact_search, which the ticket search uses too.

`crm_contact_phone_trgm` / `crm_contact_wa_id_trgm` serve `phone LIKE '%digits%'`. The third index
is on the exact expression contact_search compares (name, profile name and e-mail, accents folded by
`translate`, lower case): an expression index is used only when the query's expression is the same,
so it is written here in SQL and is not part of the model state — change both together (the
inbox benchmark shows whether it is still used)."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations

ACCENTED = "ÁÀÂÃÄÅÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝáàâãäåéèêëíìîïóòôõöúùûüçñýÿ"
UNACCENTED = "AAAAAAEEEEIIIIOOOOOUUUUCNYaaaaaaeeeeiiiiooooouuuucnyy"
SEARCH_TEXT = (
    "LOWER(translate((COALESCE(name, '') || COALESCE((COALESCE(' ', '') || COALESCE((COALESCE(profile_name, '') "
    "|| COALESCE((COALESCE(' ', '') || COALESCE(email, '')), '')), '')), '')), "
    f"'{ACCENTED}', '{UNACCENTED}'))"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("crm", "0001_initial"),
        ("tenants", "0002_pg_trgm"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="contact",
            index=GinIndex(fields=["phone"], name="crm_contact_phone_trgm", opclasses=["gin_trgm_ops"]),
        ),
        AddIndexConcurrently(
            model_name="contact",
            index=GinIndex(fields=["wa_id"], name="crm_contact_wa_id_trgm", opclasses=["gin_trgm_ops"]),
        ),
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS crm_contact_search_trgm ON crm_contact "
            f"USING gin (({SEARCH_TEXT}) gin_trgm_ops)",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS crm_contact_search_trgm",
        ),
    ]
