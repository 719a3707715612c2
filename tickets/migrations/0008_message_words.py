"""The ticket search's word index (tickets.MessageWord): the table, the SQL function that splits a
text into its search words, the triggers that fill the table from `tickets_message`, and the words
of the messages already stored. tickets 0009 drops the trigram index it replaces.

The triggers are created before the backfill in this one transaction: CREATE TRIGGER locks the
messages against writes until it commits, so no message is left without its words."""

import django.db.models.deletion
from django.db import migrations, models

# Frozen here (crm.selectors.ACCENTED, tickets.models.SEARCH_WORD_LENGTH): changing them needs a
# migration that re-creates the function and rebuilds the words.
ACCENTED = "ÁÀÂÃÄÅÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝáàâãäåéèêëíìîïóòôõöúùûüçñýÿ"
UNACCENTED = "AAAAAAEEEEIIIIOOOOOUUUUCNYaaaaaaeeeeiiiiooooouuuucnyy"
LENGTH = 60

# One SELECT of one expression, so PostgreSQL inlines it into the statements that call it: as a
# function of its own (an aggregate inside), every INSERT that fired the trigger parsed and planned
# it anew — 0.4 ms per received message.
WORDS_FUNCTION = f"""
CREATE FUNCTION tickets_search_words(body text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT tsvector_to_array(to_tsvector('simple'::regconfig, translate(body, '{ACCENTED}', '{UNACCENTED}')))
$$;
"""

# One INSERT per statement that inserts messages (a whole inbound batch, a COPY), not one per row.
# Words are distinct per message but for long ones cut to the same first LENGTH characters.
INSERTED_TRIGGER = f"""
CREATE FUNCTION tickets_message_words_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tickets_messageword (tenant_id, word, ticket_id, message_id)
    SELECT DISTINCT message.tenant_id, left(word, {LENGTH}), message.ticket_id, message.id
    FROM inserted_messages AS message CROSS JOIN unnest(tickets_search_words(message.text)) AS word
    WHERE message.text <> '';
    RETURN NULL;
END
$$;
CREATE TRIGGER tickets_message_words_inserted AFTER INSERT ON tickets_message
    REFERENCING NEW TABLE AS inserted_messages
    FOR EACH STATEMENT EXECUTE FUNCTION tickets_message_words_inserted();
"""

# Only when the text itself changes (an edit): delivery receipts update messages all day.
EDITED_TRIGGER = f"""
CREATE FUNCTION tickets_message_words_edited() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tickets_messageword (tenant_id, word, ticket_id, message_id)
    SELECT DISTINCT NEW.tenant_id, left(word, {LENGTH}), NEW.ticket_id, NEW.id
    FROM unnest(tickets_search_words(NEW.text)) AS word
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER tickets_message_words_edited AFTER UPDATE OF text ON tickets_message
    FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text)
    EXECUTE FUNCTION tickets_message_words_edited();
"""

BACKFILL = f"""
INSERT INTO tickets_messageword (tenant_id, word, ticket_id, message_id)
SELECT DISTINCT message.tenant_id, left(word, {LENGTH}), message.ticket_id, message.id
FROM tickets_message AS message CROSS JOIN unnest(tickets_search_words(message.text)) AS word
WHERE message.text <> ''
ON CONFLICT DO NOTHING;
"""

REMOVE = """
DROP TRIGGER IF EXISTS tickets_message_words_edited ON tickets_message;
DROP TRIGGER IF EXISTS tickets_message_words_inserted ON tickets_message;
DROP FUNCTION IF EXISTS tickets_message_words_edited();
DROP FUNCTION IF EXISTS tickets_message_words_inserted();
DROP FUNCTION IF EXISTS tickets_search_words(text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_tenant_auto_close_after_hours_tenant_business_hours_and_more"),
        ("tickets", "0007_message_tenant_text_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="MessageWord",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "tenant_id",
                        "word",
                        "ticket_id",
                        "message_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.tenant",
                        verbose_name="tenant",
                    ),
                ),
                ("word", models.CharField(db_collation="C", max_length=LENGTH)),
                (
                    "ticket",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="tickets.ticket",
                    ),
                ),
                (
                    "message",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="tickets.message",
                    ),
                ),
            ],
            options={"verbose_name": "message word", "verbose_name_plural": "message words"},
        ),
        migrations.RunSQL(WORDS_FUNCTION + INSERTED_TRIGGER + EDITED_TRIGGER + BACKFILL, reverse_sql=REMOVE),
    ]
