"""The messages' trigram index is replaced by the word index (tickets 0008): dropped concurrently."""

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tickets", "0008_message_words")]

    operations = [
        RemoveIndexConcurrently(model_name="message", name="tickets_message_tenant_trgm"),
    ]
