"""The knowledge search box of the inbox's contact panel."""

import pytest

from accounts.models import Role
from knowledge.models import Article
from knowledge.tests.factories import ArticleFactory
from tickets.tests.factories import TicketFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _english(tenant):
    tenant.language = "en"
    tenant.save(update_fields=["language"])


@pytest.fixture
def as_agent(client, tenant, make_member):
    client.force_login(make_member(tenant, Role.AGENT, name="Ana Agente"))
    return client


def test_the_contact_panel_has_the_search_box(client, tenant, make_member):
    admin = make_member(tenant, Role.ADMIN)
    client.force_login(admin)
    ticket = TicketFactory(tenant=tenant)
    body = client.get(f"/inbox/tickets/{ticket.pk}/", **HTMX).content.decode()
    assert 'class="knowledge-box"' in body
    assert 'hx-get="/inbox/knowledge/search/"' in body


def test_search_lists_published_articles_to_insert(as_agent, tenant, write_article):
    article = write_article("Prazo de entrega", 'O prazo de entrega é de **5 dias** úteis & "grátis".')
    write_article("Entrega expressa", "Entrega em 24 horas.", status="draft")
    response = as_agent.get("/inbox/knowledge/search/", {"q": "entega"}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Prazo de entrega" in body and "Entrega expressa" not in body
    assert "<mark>entrega</mark>" in body
    # The body goes into the composer as typed (HTML-escaped in the attribute, unescaped by the browser).
    assert 'data-text="O prazo de entrega é de **5 dias** úteis &amp; &quot;grátis&quot;."' in body
    assert f'hx-post="/inbox/knowledge/articles/{article.pk}/use/"' in body

    nothing = as_agent.get("/inbox/knowledge/search/", {"q": "helicóptero"}, **HTMX).content.decode()
    assert "No article matches." in nothing
    assert as_agent.get("/inbox/knowledge/search/", {"q": ""}, **HTMX).content.decode().strip() == ""


def test_inserting_counts_a_use(as_agent, tenant, other_tenant):
    article = ArticleFactory(tenant=tenant)
    assert as_agent.post(f"/inbox/knowledge/articles/{article.pk}/use/", **HTMX).status_code == 204
    article.refresh_from_db()
    assert article.usage_count == 1

    draft = ArticleFactory(tenant=tenant, status="draft")
    foreign = ArticleFactory(tenant=other_tenant)
    for other in (draft, foreign):
        assert as_agent.post(f"/inbox/knowledge/articles/{other.pk}/use/", **HTMX).status_code == 404
    assert set(Article.all_tenants.exclude(pk=article.pk).values_list("usage_count", flat=True)) == {0}


def test_anonymous_is_sent_to_log_in(client):
    response = client.get("/inbox/knowledge/search/", {"q": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login")
