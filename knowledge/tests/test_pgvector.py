"""pgvector, when the database has it (migration knowledge 0003): chunks keep a `vector` copy of
their embedding and search ranks by pgvector's cosine distance — the same ranking as the float
array path, which stays in use wherever the column is absent (the machine's PostgreSQL 15).

The tests of the vector path skip without the extension; the embedded PostgreSQL of `make test`
(DATABASE_URL unset) ships it, and CI runs this module there (EMBEDDED_TESTS in .ci/run)."""

import importlib
import math
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge import selectors, services
from knowledge.exceptions import InvalidEmbedding
from knowledge.models import ArticleChunk
from knowledge.tests.test_embeddings import NEAR_PAYMENT, PAYMENT
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

vector_migration = importlib.import_module("knowledge.migrations.0003_chunk_embedding_vector")

REFUND_TEXT = "Devolução do dinheiro\n\nApós a devolução, o reembolso cai na fatura em até 2 ciclos."
# A second direction, orthogonal to PAYMENT (and, like it, far from the fake's all-positive hash vectors).
REFUND = [1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0]
NEAR_REFUND = [0.9, 1.0, -1.0, -0.8, 1.0, 1.0, -0.9, -1.0]
PAYMENT_TEXT = "Formas de pagamento\n\nAceitamos pix e cartão de crédito em até 12 vezes."


@pytest.fixture(autouse=True)
def _fresh_column_check():
    selectors.chunk_vector_column_exists.cache_clear()
    yield
    selectors.chunk_vector_column_exists.cache_clear()


@pytest.fixture
def vector_column(db):
    if not selectors.chunk_vector_column_exists():
        pytest.skip(
            "no pgvector here: the `vector` extension is not available on this PostgreSQL, so migration "
            "knowledge 0003 added no embedding_vector column (the embedded PostgreSQL of `make test` has it)"
        )


def _drop_vector_column():
    """Search and writes as on a database without pgvector (the test's transaction restores it)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no ALTER TABLE with deferred checks pending
        cursor.execute(f"ALTER TABLE {ArticleChunk._meta.db_table} DROP COLUMN IF EXISTS {selectors.VECTOR_COLUMN}")
    selectors.chunk_vector_column_exists.cache_clear()


@pytest.fixture
def embedded_base(tenant, ai_with_embeddings, fake_openai, write_article):
    """The hybrid tests' fixtures: a synonym full text cannot find, and an order the meaning changes."""
    fake_openai.embed_as(PAYMENT_TEXT, NEAR_PAYMENT)
    fake_openai.embed_as(REFUND_TEXT, NEAR_REFUND)
    fake_openai.embed_as("como pagar com boleto", PAYMENT)
    fake_openai.embed_as("quando recebo meu reembolso", REFUND)
    write_article("Formas de pagamento", "Aceitamos pix e cartão de crédito em até 12 vezes.")
    write_article("Prazo de entrega", "Entregamos em até 5 dias úteis.")
    write_article("Reembolso de frete", "O reembolso do frete vale para pedidos acima de R$ 200.")
    write_article("Devolução do dinheiro", "Após a devolução, o reembolso cai na fatura em até 2 ciclos.")
    with tenant_context(tenant):
        services.article_chunks_embed(tenant=tenant)


QUERIES = {"como pagar com boleto": PAYMENT, "quando recebo meu reembolso": REFUND}


def _rankings(tenant):
    """Per query: the search's titles, the similarity statement's SQL, and the articles' best
    chunk similarities (what the fusion gets)."""
    found = {}
    with tenant_context(tenant):
        for query, query_vector in QUERIES.items():
            with CaptureQueriesContext(connection) as queries:
                titles = [hit.article.title for hit in selectors.knowledge_search(query=query)]
            [similarity_sql] = [q["sql"] for q in queries.captured_queries if "WITH near AS" in q["sql"]]
            similar = selectors._similar_articles(
                tenant=tenant, articles=selectors.article_list(tenant=tenant, published_only=True),
                vector=query_vector, model="fake-embed", limit=20,
            )  # fmt: skip
            found[query] = (titles, similarity_sql, similar)
    return found


def _vectors(tenant):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, embedding, {selectors.VECTOR_COLUMN}::real[] FROM {ArticleChunk._meta.db_table} "
            "WHERE tenant_id = %s AND embedding IS NOT NULL ORDER BY id",
            [tenant.pk],
        )
        return cursor.fetchall()


def test_the_vector_path_ranks_like_the_array_path(tenant, vector_column, embedded_base):
    rows = _vectors(tenant)
    assert len(rows) == 4  # every embedded chunk got its `vector` copy in the same UPDATE
    for _id, array, vector in rows:
        assert vector == pytest.approx(array, rel=1e-6)

    by_pgvector = _rankings(tenant)
    _drop_vector_column()
    by_arrays = _rankings(tenant)

    for query in QUERIES:
        vector_titles, vector_sql, vector_similar = by_pgvector[query]
        array_titles, array_sql, array_similar = by_arrays[query]
        assert "<=>" in vector_sql and "bit_count" not in vector_sql
        assert "bit_count" in array_sql and selectors.VECTOR_COLUMN not in array_sql
        assert vector_titles == array_titles and vector_similar
        assert [pk for pk, _ in vector_similar] == [pk for pk, _ in array_similar]
        assert [s for _, s in vector_similar] == pytest.approx([s for _, s in array_similar], rel=1e-5)
    # The hybrid tests' expectations hold on both paths.
    assert by_pgvector["como pagar com boleto"][0] == ["Formas de pagamento"]
    assert by_pgvector["quando recebo meu reembolso"][0] == ["Devolução do dinheiro", "Reembolso de frete"]


def test_the_migration_backfills_and_reverses(tenant, vector_column, embedded_base):
    table, column = ArticleChunk._meta.db_table, selectors.VECTOR_COLUMN
    with connection.cursor() as cursor:
        # Chunks embedded by a process that started before the column existed: arrays only.
        cursor.execute(f"UPDATE {table} SET {column} = NULL")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no ALTER TABLE with deferred checks pending
    with tenant_context(tenant):  # search casts them meanwhile
        assert [hit.article.title for hit in selectors.knowledge_search(query="como pagar com boleto")] == [
            "Formas de pagamento"
        ]
    schema_editor = SimpleNamespace(connection=connection)

    vector_migration.vector_column_drop(None, schema_editor)
    selectors.chunk_vector_column_exists.cache_clear()
    assert selectors.chunk_vector_column_exists() is False
    vector_migration.vector_column_add(None, schema_editor)
    selectors.chunk_vector_column_exists.cache_clear()
    assert selectors.chunk_vector_column_exists() is True
    rows = _vectors(tenant)
    assert len(rows) == 4 and all(vector == pytest.approx(array, rel=1e-6) for _id, array, vector in rows)


def test_without_the_column_search_and_writes_use_the_arrays(tenant, embedded_base):
    # Runs anywhere: where pgvector exists the column is dropped for the test.
    _drop_vector_column()
    assert selectors.chunk_vector_column_exists() is False
    by_arrays = _rankings(tenant)
    for _titles, sql, _similar in by_arrays.values():
        assert "bit_count" in sql and selectors.VECTOR_COLUMN not in sql
    assert by_arrays["como pagar com boleto"][0] == ["Formas de pagamento"]
    assert by_arrays["quando recebo meu reembolso"][0] == ["Devolução do dinheiro", "Reembolso de frete"]
    chunk = ArticleChunk.all_tenants.filter(tenant=tenant).order_by("id").first()
    with tenant_context(tenant):
        services.article_chunk_set_embedding(chunk=chunk, embedding=[0.5, -0.25], model="fake-embed")
    chunk.refresh_from_db()
    assert (chunk.embedding, chunk.embedding_signs) == ([0.5, -0.25], "10")


def test_a_vector_with_nan_is_refused(tenant, write_article):
    # A NaN would make every cosine NaN, which PostgreSQL sorts above any number (and pgvector refuses).
    write_article("Pagamento", "Pix.")
    chunk = ArticleChunk.all_tenants.get(tenant=tenant)
    with tenant_context(tenant), pytest.raises(InvalidEmbedding):
        services.article_chunk_set_embedding(chunk=chunk, embedding=[0.5, math.nan], model="fake-embed")
    chunk.refresh_from_db()
    assert chunk.embedding is None
