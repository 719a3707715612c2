"""Optional embeddings of article chunks and the hybrid ranking of search (reciprocal-rank fusion
of full text and cosine similarity), against the fake OpenAI-compatible server."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ai.models import AIUsage
from ai.tests.fakes import EMBEDDINGS
from knowledge import selectors, services
from knowledge.models import ArticleChunk
from knowledge.tasks import embed_missing_chunks
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

# "Alike" vectors: the query about "boleto" and the payment article point the same way; the
# deterministic hash vectors of every other text are far from them (negative components).
PAYMENT = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]
NEAR_PAYMENT = [0.9, -1.0, 1.0, -0.8, 1.0, -1.0, 0.9, -1.0]


def _publish(write_article, title, body, **fields):
    return write_article(title, body, **fields)


def _embedded(tenant):
    return {chunk.article_id: (chunk.embedding, chunk.embedding_model) for chunk in ArticleChunk.all_tenants.all()}


def test_publishing_embeds_the_chunks_on_commit(tenant, ai_with_embeddings, fake_openai, write_article,
                                                django_capture_on_commit_callbacks):  # fmt: skip
    fake_openai.embed_as("Pagamento\n\nAceitamos pix e cartão.", PAYMENT)
    with django_capture_on_commit_callbacks(execute=True):
        article = write_article("Pagamento", "Aceitamos pix e cartão.")
        draft = write_article("Rascunho", "Ainda não publicado.", status="draft")
    stored = _embedded(tenant)
    assert stored[article.pk] == (PAYMENT, "fake-embed")
    assert stored[draft.pk] == (None, "")  # drafts wait until published
    assert AIUsage.all_tenants.filter(tenant=tenant, feature="embed").count() == 1

    with django_capture_on_commit_callbacks(execute=True), tenant_context(tenant):
        services.article_update(article=draft, actor=None, status="published")
    assert _embedded(tenant)[draft.pk][1] == "fake-embed"


def test_without_an_embeddings_model_nothing_is_embedded(tenant, ai_with_embeddings, fake_openai, write_article,
                                                         django_capture_on_commit_callbacks):  # fmt: skip
    type(ai_with_embeddings).all_tenants.filter(pk=ai_with_embeddings.pk).update(embeddings_model="")
    with django_capture_on_commit_callbacks(execute=True):
        write_article("Pagamento", "Aceitamos pix e cartão.")
    assert embed_missing_chunks() == 0
    assert fake_openai.embedding_requests() == []
    assert ArticleChunk.all_tenants.filter(embedding__isnull=False).count() == 0


def test_the_backfill_embeds_what_is_missing_and_survives_an_outage(tenant, other_tenant, ai_with_embeddings,
                                                                    fake_openai, write_article):  # fmt: skip
    # Written before the model existed (no on-commit run here): the backfill finds them.
    first = write_article("Entrega", "Entregamos em 5 dias.")
    second = write_article("Troca", "Trocas em 30 dias.\n\n# Como\n\nPelo site.")
    write_article("Outro", "Do outro inquilino.", in_tenant=other_tenant)  # no AI there: untouched
    fake_openai.fail(EMBEDDINGS, status=400)
    with tenant_context(tenant):
        assert services.article_chunks_embed(tenant=tenant) == 0  # a failure stops the run quietly
    assert embed_missing_chunks() == 1  # one tenant has an embeddings model
    stored = {chunk.pk: chunk.embedding_model for chunk in ArticleChunk.all_tenants.filter(tenant=tenant)}
    assert len(stored) == 3 and set(stored.values()) == {"fake-embed"}
    assert ArticleChunk.all_tenants.filter(tenant=other_tenant, embedding__isnull=False).count() == 0
    assert {first.pk, second.pk} == set(
        ArticleChunk.all_tenants.filter(tenant=tenant).values_list("article_id", flat=True)
    )


def test_the_management_command(tenant, ai_with_embeddings, fake_openai, write_article, capsys):
    write_article("Entrega", "Entregamos em 5 dias.")
    call_command("knowledge_embed", "--tenant", tenant.slug)
    assert "Embedded 1 chunks with fake-embed." in capsys.readouterr().out
    type(ai_with_embeddings).all_tenants.filter(pk=ai_with_embeddings.pk).update(embeddings_model="")
    with pytest.raises(CommandError):
        call_command("knowledge_embed", "--tenant", tenant.slug)


def _search(tenant, query, **options):
    with tenant_context(tenant):
        return [hit.article.title for hit in selectors.knowledge_search(query=query, **options)]


def test_hybrid_ranking_finds_a_synonym_full_text_cannot(tenant, ai_with_embeddings, fake_openai, write_article):
    fake_openai.embed_as("Formas de pagamento\n\nAceitamos pix e cartão de crédito em até 12 vezes.", NEAR_PAYMENT)
    fake_openai.embed_as("como pagar com boleto", PAYMENT)
    write_article("Formas de pagamento", "Aceitamos pix e cartão de crédito em até 12 vezes.")
    write_article("Prazo de entrega", "Entregamos em até 5 dias úteis.")
    with tenant_context(tenant):
        services.article_chunks_embed(tenant=tenant)

    assert _search(tenant, "como pagar com boleto", semantic=False) == []  # no article says "boleto"
    hits = _search(tenant, "como pagar com boleto")
    assert hits == ["Formas de pagamento"]
    with tenant_context(tenant):
        [hit] = selectors.knowledge_search(query="como pagar com boleto")
    assert hit.headline.startswith("Aceitamos pix") and "<mark>" not in hit.headline
    # The query's embedding is metered like every AI call (one for the chunks, one for the query:
    # the same query again reuses its vector for an hour).
    assert AIUsage.all_tenants.filter(tenant=tenant, feature="embed").count() == 2
    assert len(fake_openai.embedding_requests()) == 2


def test_hybrid_ranking_changes_the_order(tenant, ai_with_embeddings, fake_openai, write_article):
    # Full text prefers the article with "reembolso" in its title; the meaning prefers the other.
    write_article("Reembolso de frete", "O reembolso do frete vale para pedidos acima de R$ 200.")
    write_article("Devolução do dinheiro", "Após a devolução, o reembolso cai na fatura em até 2 ciclos.")
    fake_openai.embed_as("Devolução do dinheiro\n\nApós a devolução, o reembolso cai na fatura em até 2 ciclos.",
                         NEAR_PAYMENT)  # fmt: skip
    fake_openai.embed_as("quando recebo meu reembolso", PAYMENT)
    with tenant_context(tenant):
        services.article_chunks_embed(tenant=tenant)

    assert _search(tenant, "quando recebo meu reembolso", semantic=False)[0] == "Reembolso de frete"
    assert _search(tenant, "quando recebo meu reembolso") == ["Devolução do dinheiro", "Reembolso de frete"]


def test_search_falls_back_to_full_text_when_embedding_fails(tenant, ai_with_embeddings, fake_openai, write_article):
    fake_openai.embed_as("como pagar com boleto", PAYMENT)
    fake_openai.embed_as("Formas de pagamento\n\nAceitamos pix e cartão de crédito.", NEAR_PAYMENT)
    write_article("Formas de pagamento", "Aceitamos pix e cartão de crédito.")
    write_article("Boleto bancário", "O boleto vence em 3 dias.")
    with tenant_context(tenant):
        services.article_chunks_embed(tenant=tenant)
    text_only = _search(tenant, "como pagar com boleto", semantic=False)
    assert text_only == ["Boleto bancário"]

    fake_openai.fail(EMBEDDINGS, status=400)
    assert _search(tenant, "como pagar com boleto") == text_only  # provider down
    tenant.max_ai_requests_per_month = 1  # the chunks' embedding used it (failed calls do not count)
    tenant.save()
    assert _search(tenant, "como pagar com boleto") == text_only  # monthly cap reached
    assert len(fake_openai.embedding_requests()) == 2  # refused before any request
    tenant.max_ai_requests_per_month = 100
    tenant.save()
    # The control: with the provider answering, the meaning adds the payment article.
    assert _search(tenant, "como pagar com boleto") == ["Boleto bancário", "Formas de pagamento"]
    type(ai_with_embeddings).all_tenants.filter(pk=ai_with_embeddings.pk).update(enabled=False)
    requests_before = len(fake_openai.embedding_requests())
    assert _search(tenant, "como pagar com boleto") == text_only  # AI switched off: not even tried
    assert len(fake_openai.embedding_requests()) == requests_before


def test_no_embedding_call_while_no_chunk_is_embedded(tenant, ai_with_embeddings, fake_openai, write_article):
    write_article("Boleto bancário", "O boleto vence em 3 dias.")
    assert _search(tenant, "boleto") == ["Boleto bancário"]
    assert fake_openai.embedding_requests() == []


def test_many_changes_queue_one_embedding_run(tenant, ai_with_embeddings, fake_openai, write_article):
    from config.redis import get_redis
    from knowledge.tasks import EMBED_PENDING_KEY, chunks_embed_soon

    write_article("Entrega", "Entregamos em 5 dias.")
    get_redis().set(EMBED_PENDING_KEY.format(tenant_id=tenant.pk), 1)  # a run is already queued
    assert chunks_embed_soon(tenant_id=tenant.pk) is False
    assert fake_openai.embedding_requests() == []
    get_redis().delete(EMBED_PENDING_KEY.format(tenant_id=tenant.pk))  # the queued run started
    assert chunks_embed_soon(tenant_id=tenant.pk) is True
    assert len(fake_openai.embedding_requests()) == 1


def test_the_backfill_is_scheduled_by_the_migration(db):
    from django_celery_beat.models import PeriodicTask

    schedule = PeriodicTask.objects.get(task="knowledge.embed_missing_chunks")
    assert schedule.enabled and (schedule.interval.every, schedule.interval.period) == (15, "minutes")


def test_sign_bits_are_stored_with_the_vector(tenant, ai_with_embeddings, fake_openai, write_article):
    fake_openai.embed_as("Pagamento\n\nPix.", PAYMENT)
    write_article("Pagamento", "Pix.")
    with tenant_context(tenant):
        services.article_chunks_embed(tenant=tenant)
    assert ArticleChunk.all_tenants.get(tenant=tenant).embedding_signs == "10101010"


def test_a_slow_similarity_query_gives_up_and_search_stays_full_text(
    tenant, ai_with_embeddings, fake_openai, write_article, monkeypatch
):
    from django.db import connection

    from knowledge.tests.factories import ArticleChunkFactory

    fake_openai.embed_as("como pagar com boleto", [0.5] * 1536)
    write_article("Boleto bancário", "O boleto vence em 3 dias.")
    payment = write_article("Formas de pagamento", "Aceitamos pix.")
    wide = [0.5] * 1536
    ArticleChunk.all_tenants.filter(tenant=tenant).delete()
    for ordinal in range(300):  # ~0.2 s of exact cosines: far over the 1 ms allowed below
        ArticleChunkFactory(tenant=tenant, article=payment, ordinal=ordinal, text=f"Trecho {ordinal}", embedding=wide,
                            embedding_model="fake-embed", embedding_signs="1" * 1536)  # fmt: skip
    assert _search(tenant, "como pagar com boleto") == ["Boleto bancário", "Formas de pagamento"]  # the control
    monkeypatch.setattr(selectors, "SEMANTIC_TIMEOUT_MS", 1)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        [before] = cursor.fetchone()
    assert _search(tenant, "como pagar com boleto") == ["Boleto bancário"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == (before,)
