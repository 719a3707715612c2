"""pgvector, when the database offers it: a `vector` copy of each chunk's embedding, so search ranks
by pgvector's cosine distance instead of the sign-bit pass over float arrays.

Optional by design: without the `vector` extension (or the privilege to create it) this does
nothing, and search keeps the array path. The column is not on the model (it may not exist):
knowledge.selectors / knowledge.services reach it with raw SQL. No fixed dimension (models differ
per tenant), so no HNSW index: pgvector's exact scan is cheap enough at a help desk's size.
"""

from django.db import DatabaseError, migrations, transaction

TABLE = "knowledge_articlechunk"
COLUMN = "embedding_vector"
MAX_DIMENSIONS = 16000  # pgvector's limit for a stored `vector`


def _vector_installed(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
    if cursor.fetchone():
        return True
    cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    if not cursor.fetchone():
        return False
    try:
        with transaction.atomic():
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except DatabaseError:  # no privilege to create extensions (a managed database): go without
        return False
    return True


def vector_column_add(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if not _vector_installed(cursor):
            return
        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {COLUMN} vector")
        # The vectors embedded so far (float arrays of finite values: pgvector refuses NaN).
        cursor.execute(
            f"""
            UPDATE {TABLE} SET {COLUMN} = embedding::vector
            WHERE {COLUMN} IS NULL AND embedding IS NOT NULL
              AND cardinality(embedding) BETWEEN 1 AND %s
              AND NOT ('NaN'::float8 = ANY(embedding) OR 'Infinity'::float8 = ANY(embedding)
                       OR '-Infinity'::float8 = ANY(embedding))
            """,
            [MAX_DIMENSIONS],
        )


def vector_column_drop(apps, schema_editor):
    # The extension stays: other schemas may use it, and it costs nothing unused.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {COLUMN}")


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0002_proposals"),
    ]

    operations = [
        migrations.RunPython(vector_column_add, vector_column_drop),
    ]
