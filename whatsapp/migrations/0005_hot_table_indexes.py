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
        ("whatsapp", "0004_message_templates"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="inboundevent",
                    name="dedupe_key",
                    field=models.CharField(max_length=128),
                ),
                migrations.AlterField(
                    model_name="inboundevent",
                    name="tenant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.tenant",
                        verbose_name="tenant",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="inboundevent",
                    constraint=models.UniqueConstraint(fields=("dedupe_key",), name="whatsapp_inbound_dedupe_key"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS whatsapp_inboundevent_tenant_id_c17ff8d1",
                    reverse_sql="CREATE INDEX whatsapp_inboundevent_tenant_id_c17ff8d1 ON whatsapp_inboundevent (tenant_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS whatsapp_inboundevent_dedupe_key_2e25e724_like",
                    reverse_sql="CREATE INDEX whatsapp_inboundevent_dedupe_key_2e25e724_like "
                    "ON whatsapp_inboundevent (dedupe_key varchar_pattern_ops)",
                ),
                migrations.RunSQL(
                    "ALTER TABLE whatsapp_inboundevent "
                    "RENAME CONSTRAINT whatsapp_inboundevent_dedupe_key_key TO whatsapp_inbound_dedupe_key",
                    reverse_sql="ALTER TABLE whatsapp_inboundevent "
                    "RENAME CONSTRAINT whatsapp_inbound_dedupe_key TO whatsapp_inboundevent_dedupe_key_key",
                ),
            ],
        ),
    ]
