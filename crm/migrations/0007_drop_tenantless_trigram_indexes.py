"""The contacts' tenant-less trigram indexes (0001, 0002): every search filters by tenant and reads
the tenant-first ones of 0005, while each new contact (and each update that cannot be HOT) still
wrote ~30 trigrams into each of these. Dropped concurrently."""

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0006_contact_tenant_index")]

    operations = [
        RemoveIndexConcurrently(model_name="contact", name="crm_contact_name_trgm"),
        RemoveIndexConcurrently(model_name="contact", name="crm_contact_phone_trgm"),
        RemoveIndexConcurrently(model_name="contact", name="crm_contact_wa_id_trgm"),
    ]
