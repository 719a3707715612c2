"""Contacts lose the tenant's own index: every other index of the table starts with the tenant,
and with it PostgreSQL sometimes searched contacts by walking all of the tenant's (150 ms at 34k
contacts) instead of the trigram indexes (10 ms). Only the index is dropped: the foreign key is
not recreated (that would validate every row)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_tenant_auto_close_after_hours_tenant_business_hours_and_more"),
        ("crm", "0005_tenant_first_search_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="contact",
                    name="tenant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.tenant",
                        verbose_name="tenant",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS crm_contact_tenant_id_79926372",
                    reverse_sql="CREATE INDEX crm_contact_tenant_id_79926372 ON crm_contact (tenant_id)",
                ),
            ],
        ),
    ]
