"""Hot inbound tables lose indexes nothing reads: the tenant's own (every index of these tables
starts with the tenant) and, for the inbound events, the LIKE-pattern copy of the dedupe key's
unique index. Only the indexes are dropped: the foreign keys and the unique constraint stay as
they are in the database (recreating them would validate every row).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_tenant_auto_close_after_hours_tenant_business_hours_and_more"),
        ("tickets", "0005_list_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="tenant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.tenant",
                        verbose_name="tenant",
                    ),
                ),
                migrations.AlterField(
                    model_name="ticket",
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
                    "DROP INDEX IF EXISTS tickets_message_tenant_id_4a5cdb8d",
                    reverse_sql="CREATE INDEX tickets_message_tenant_id_4a5cdb8d ON tickets_message (tenant_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS tickets_ticket_tenant_id_3a7f5a8a",
                    reverse_sql="CREATE INDEX tickets_ticket_tenant_id_3a7f5a8a ON tickets_ticket (tenant_id)",
                ),
            ],
        ),
    ]
