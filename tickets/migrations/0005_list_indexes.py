"""Indexes of the ticket list (docs/PERFORMANCE.md, "Inbox list"): each tab walks one index in its
order (newest activity first, then id) and stops at the page, and the search's message-text
subquery uses a trigram index. Built concurrently: the tables are the biggest of the database."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Upper


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tenants", "0002_pg_trgm"),
        ("tickets", "0004_message_edits"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(fields=["tenant", "-last_message_at", "-id"], name="tickets_ticket_recent"),
        ),
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(
                fields=["tenant", "status", "-last_message_at", "-id"], name="tickets_ticket_status_recent"
            ),
        ),
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(
                fields=["tenant", "assignee", "status", "-last_message_at", "-id"],
                name="tickets_ticket_assignee_recent",
            ),
        ),
        RemoveIndexConcurrently(model_name="ticket", name="tickets_ticket_status_last"),
        RemoveIndexConcurrently(model_name="ticket", name="tickets_ticket_assignee"),
        AddIndexConcurrently(
            model_name="message",
            index=GinIndex(OpClass(Upper("text"), name="gin_trgm_ops"), name="tickets_message_text_trgm"),
        ),
    ]
