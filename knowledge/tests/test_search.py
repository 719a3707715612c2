"""knowledge_search on real PostgreSQL: pt-BR stemming, accents, typos, ranking, filters, tenants."""

import pytest
from django.db import connection

from knowledge.selectors import knowledge_search, query_corrections
from tenants.context import tenant_context


def _unaccent_configured() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_ts_config_map map JOIN pg_ts_config config ON config.oid = map.mapcfg "
            "JOIN pg_ts_dict dict ON dict.oid = map.mapdict "
            "WHERE config.cfgname = 'prosa_portuguese' AND dict.dictname = 'unaccent'"
        )
        return cursor.fetchone() is not None


@pytest.fixture
def base(write_article):
    return {
        "delivery": write_article(
            "Prazo de entrega",
            "## Capitais\n\nO prazo de entrega dos pedidos é de **5 dias úteis** para capitais.\n\n"
            "Não entregamos aos domingos nem feriados.",
            tags=["Logística"],
            category="Pedidos",
        ),
        "invoice": write_article(
            "Como emitir a nota fiscal",
            "A nota fiscal eletrônica (NF-e) é enviada por e-mail após o faturamento do pedido.",
            tags=["financeiro"],
            category="Financeiro",
        ),
        "returns": write_article(
            "Trocas e devoluções",
            "Para trocar um produto, informe o número do pedido. Guarde a nota da compra: a nota de "
            "devolução é gerada por nós. Você tem 7 dias.",
            category="Pedidos",
        ),
        "payment": write_article(
            "Formas de pagamento",
            "Aceitamos cartão de crédito, boleto e Pix. Parcelamos em até 10 vezes sem juros.",
            category="Financeiro",
        ),
        "shipping_en": write_article(
            "Delivery times", "Orders are delivered within 5 business days.", language="en", category="Orders"
        ),
    }


def _titles(hits):
    return [hit.article.title for hit in hits]


def test_a_stemmed_word_finds_the_article(tenant, base):
    with tenant_context(tenant):
        hits = knowledge_search(query="entrega")
    assert _titles(hits)[0] == "Prazo de entrega"
    assert "<mark>entrega</mark>" in hits[0].headline
    # Other inflections of the word reach it too (Portuguese stemming).
    with tenant_context(tenant):
        assert _titles(knowledge_search(query="entregas"))[0] == "Prazo de entrega"


def test_a_typo_still_finds_the_article(tenant, base):
    with tenant_context(tenant):
        assert query_corrections(tenant=tenant, words=["entega", "pedido"]) == {"entega": ["entrega"]}
        hits = knowledge_search(query="entega")
    assert _titles(hits)[0] == "Prazo de entrega"
    assert hits[0].score > 0


def test_a_customer_question_with_a_typo_finds_the_article(tenant, base):
    with tenant_context(tenant):
        hits = knowledge_search(query="Oi, qual o prazo de entega do meu pedido?", limit=3)
    assert _titles(hits)[0] == "Prazo de entrega"


def test_every_word_together_ranks_first(tenant, base):
    with tenant_context(tenant):
        hits = knowledge_search(query="nota fiscal")
    titles = _titles(hits)
    assert titles[0] == "Como emitir a nota fiscal"
    assert "Trocas e devoluções" in titles  # mentions "nota" only: found, ranked below
    assert hits[0].score > hits[titles.index("Trocas e devoluções")].score


def test_accents_do_not_matter(tenant, base):
    if not _unaccent_configured():
        pytest.skip("the database has no unaccent extension")
    with tenant_context(tenant):
        with_accent = knowledge_search(query="não entregamos")
        without_accent = knowledge_search(query="nao entregamos")
        devolucoes = knowledge_search(query="devolucoes")
    assert _titles(with_accent)[0] == _titles(without_accent)[0] == "Prazo de entrega"
    assert [hit.score for hit in with_accent] == [hit.score for hit in without_accent]
    assert "<mark>Não</mark>" in with_accent[0].headline
    assert _titles(devolucoes)[0] == "Trocas e devoluções"


def test_a_title_like_query_with_a_typo_matches_the_title(tenant, base):
    with tenant_context(tenant):
        assert _titles(knowledge_search(query="formas de pagamneto"))[0] == "Formas de pagamento"


def test_each_article_is_searched_in_its_language(tenant, base):
    with tenant_context(tenant):
        assert _titles(knowledge_search(query="delivered"))[0] == "Delivery times"
        assert _titles(knowledge_search(query="delivery", language="en")) == ["Delivery times"]
        assert "Delivery times" not in _titles(knowledge_search(query="entrega", language="pt-br"))


def test_filters_by_tags_and_categories(tenant, base):
    with tenant_context(tenant):
        assert _titles(knowledge_search(query="pedido", tags=["financeiro"])) == ["Como emitir a nota fiscal"]
        assert set(_titles(knowledge_search(query="pedido", categories=["Pedidos"]))) == {
            "Prazo de entrega",
            "Trocas e devoluções",
        }


def test_drafts_are_found_only_when_asked(tenant, base, write_article):
    write_article("Política de garantia", "A garantia é de 90 dias.", status="draft")
    with tenant_context(tenant):
        assert knowledge_search(query="garantia") == []
        assert _titles(knowledge_search(query="garantia", published_only=False)) == ["Política de garantia"]


def test_limit_and_nothing_to_find(tenant, base):
    with tenant_context(tenant):
        assert len(knowledge_search(query="pedido", limit=1)) == 1
        assert knowledge_search(query="   ") == []
        assert knowledge_search(query="?!") == []
        assert knowledge_search(query="helicóptero") == []


def test_the_headline_is_escaped_and_without_markdown(tenant, write_article):
    write_article("Avisos", "Sem <script>alert(1)</script> **nunca**: se 5 < 10 & M&M, o aviso aparece.")
    with tenant_context(tenant):
        (hit,) = knowledge_search(query="aviso")
    assert "<script>" not in hit.headline
    assert "5 &lt; 10 &amp; M&amp;M" in hit.headline
    assert "**" not in hit.headline
    assert "<mark>aviso</mark>" in hit.headline


def test_another_tenants_articles_are_never_found(tenant, other_tenant, base, write_article):
    write_article("Prazo de entrega expresso", "Entrega expressa em 24 horas.", in_tenant=other_tenant)
    with tenant_context(tenant):
        titles = _titles(knowledge_search(query="entrega expressa", limit=10))
        # The other tenant's words are not in this tenant's vocabulary either.
        assert query_corrections(tenant=tenant, words=["expresso"]) == {}
    assert "Prazo de entrega expresso" not in titles


def test_a_search_is_two_queries(tenant, base, django_assert_num_queries):
    with tenant_context(tenant), django_assert_num_queries(2):
        hits = knowledge_search(query="prazo de entega", limit=5)
        [hit.article.title for hit in hits]
