from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    """pg_trgm backs fuzzy search (contacts, tickets, knowledge base) in later capabilities."""

    dependencies = [("tenants", "0001_initial")]
    operations = [TrigramExtension()]
