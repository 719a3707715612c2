"""Services and text helpers of the knowledge base: versions, tags, passages, vocabulary, embeddings."""

import threading

import pytest
from django.db import connection

from config.errors import ProsaError
from knowledge import selectors, services, text
from knowledge.exceptions import InvalidArticle, InvalidEmbedding
from knowledge.models import Article, ArticleChunk, ArticleVersion, Term
from tenants.context import tenant_context
from tenants.exceptions import TenantContextMissing


def test_markdown_title_and_plain_text():
    assert text.markdown_title("\n# Prazo de entrega #\n\nCinco dias.\n") == ("Prazo de entrega", "Cinco dias.")
    assert text.markdown_title("Sem título.\n# Depois") == ("", "Sem título.\n# Depois")
    assert text.markdown_plain("## Título\n**negrito** e [link](http://x) `code`") == "Título\nnegrito e link code"


def test_passages_follow_headings_and_size():
    body = "# A\n\nprimeiro.\n\nsegundo.\n\n## B\n\n" + ("palavra " * 400).strip()
    passages = text.markdown_passages(body, target=1200)
    assert passages[0] == "# A\n\nprimeiro.\n\nsegundo."
    assert passages[1] == "## B"
    assert all(len(passage) <= 2400 for passage in passages)
    assert " ".join(passages[2:]).split() == ["palavra"] * 400
    assert text.markdown_passages("") == []


def test_words_are_folded_and_distinct():
    assert text.words("Não, NÃO! Entrega às 9h; e-mail") == ["nao", "entrega", "mail"]


def test_tags_are_cleaned():
    assert services.tags_clean(" Frete; logística|FRETE ,  ") == ["frete", "logística"]
    with pytest.raises(InvalidArticle) as caught:
        services.tags_clean([f"t{n}" for n in range(31)])
    assert caught.value.fields == {"tags": ["At most 30 tags."]}


def test_versions_count_text_changes_only(tenant):
    with tenant_context(tenant):
        article = services.article_create(tenant=tenant, actor=None, title="Garantia", body="90 dias.", language="pt")
        assert article.language == "pt-br"
        services.article_update(article=article, actor=None, status="published", tags=["garantia"])
        services.article_update(article=article, actor=None, title="Garantia")  # unchanged text
        services.article_update(article=article, actor=None, body="1 ano.")
        services.article_update(article=article, actor=None)
        versions = list(ArticleVersion.objects.filter(article=article).order_by("number"))
    assert [(v.number, v.title, v.body) for v in versions] == [(1, "Garantia", "90 dias."), (2, "Garantia", "1 ano.")]


def test_a_restore_adds_a_version(tenant):
    with tenant_context(tenant):
        article = services.article_create(tenant=tenant, actor=None, title="A", body="um")
        services.article_update(article=article, actor=None, title="B", body="dois")
        first = ArticleVersion.objects.get(article=article, number=1)
        restored = services.article_version_restore(version=first, actor=None)
        last = ArticleVersion.objects.filter(article=article).order_by("-number").first()
    assert (restored.title, restored.body) == ("A", "um")
    assert (last.number, last.restored_from) == (3, 1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_number_versions_in_turn(tenant):
    """Two real connections save the same article at once: the row lock orders them."""
    with tenant_context(tenant):
        article = services.article_create(tenant=tenant, actor=None, title="Concorrência", body="v1")
    errors = []

    def save(body):
        try:
            with tenant_context(tenant):
                services.article_update(article=article, actor=None, body=body)
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(f"v{n}",)) for n in (2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = sorted(ArticleVersion.all_tenants.filter(article=article).values_list("number", flat=True))
    assert numbers == [1, 2, 3, 4]


def test_invalid_articles_write_nothing(tenant):
    with tenant_context(tenant):
        with pytest.raises(InvalidArticle) as caught:
            services.article_create(tenant=tenant, actor=None, title=" ", status="archived", language="fr")
        assert caught.value.fields == {"language": ["Use pt-br, en or es."]}
        with pytest.raises(InvalidArticle) as caught:
            services.article_create(tenant=tenant, actor=None, title=" ", status="archived")
        assert set(caught.value.fields) == {"title", "status"}
        assert not Article.objects.exists()
        assert not ArticleVersion.objects.exists()


def test_chunks_and_vocabulary_follow_the_text(tenant):
    with tenant_context(tenant):
        article = services.article_create(tenant=tenant, actor=None, title="Entrega", body="# Prazo\n\nCinco dias.")
        assert list(ArticleChunk.objects.values_list("ordinal", "text")) == [(0, "# Prazo\n\nCinco dias.")]
        services.article_update(article=article, actor=None, body="Dez dias úteis.\n\nNão aos domingos.")
        assert list(ArticleChunk.objects.values_list("text", flat=True)) == ["Dez dias úteis.\n\nNão aos domingos."]
        words = set(Term.objects.values_list("word", flat=True))
    assert {"entrega", "prazo", "cinco", "dez", "uteis", "nao", "domingos"} <= words


def test_embeddings_are_stored_for_the_ai_app(tenant):
    with tenant_context(tenant):
        article = services.article_create(
            tenant=tenant, actor=None, title="A", body="um.\n\n# B\n\ndois.", status="published"
        )
        first, second = ArticleChunk.objects.order_by("ordinal")
        services.article_chunk_set_embedding(chunk=first, embedding=[0.1, 2], model="emb-1")
        with pytest.raises(InvalidEmbedding):
            services.article_chunk_set_embedding(chunk=second, embedding=[True], model="emb-1")
        pending = list(selectors.article_chunks_without_embedding(tenant=tenant, model="emb-1"))
        other_model = list(selectors.article_chunks_without_embedding(tenant=tenant, model="emb-2"))
        published = list(selectors.article_chunk_list(tenant=tenant, article_ids=[article.pk]))
    assert pending == [second]
    assert other_model == [first, second]
    assert published == [first, second]
    first.refresh_from_db()
    assert (first.embedding, first.embedding_model) == ([0.1, 2.0], "emb-1")


def test_use_counts_atomically(tenant):
    with tenant_context(tenant):
        article = services.article_create(tenant=tenant, actor=None, title="A")
        services.article_use(article=article)
        article = services.article_use(article=article)
    assert article.usage_count == 2


def test_search_needs_a_tenant(db):
    with pytest.raises(TenantContextMissing):
        selectors.knowledge_search(query="entrega")
    assert issubclass(InvalidArticle, ProsaError)
