"""The knowledge API: permissions by role, CRUD with versions, restore, use, search, import."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Role
from knowledge.models import Article, ArticleChunk, ArticleVersion, Term
from knowledge.tests.factories import ArticleFactory

LIST = "/api/v1/knowledge/articles"


def _detail(article):
    return f"{LIST}/{article.pk}"


@pytest.fixture
def clients(tenant, make_member, client_for):
    return {role: client_for(make_member(tenant, role), tenant) for role in (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)}


def _rows(tenant, model):
    return model.all_tenants.filter(tenant=tenant)


# --- Permissions -------------------------------------------------------------------------------


def test_agents_read_published_articles_only(tenant, clients):
    published = ArticleFactory(tenant=tenant, title="Publicado")
    draft = ArticleFactory(tenant=tenant, title="Rascunho", status="draft")
    agent = clients[Role.AGENT]
    response = agent.get(LIST)
    assert response.status_code == 200
    assert [item["title"] for item in response.json()["results"]] == ["Publicado"]
    assert agent.get(_detail(published)).status_code == 200
    assert agent.get(_detail(draft)).status_code == 404
    staff = clients[Role.SUPERVISOR].get(LIST, {"ordering": "title"})
    assert [item["title"] for item in staff.json()["results"]] == ["Publicado", "Rascunho"]


def test_agents_cannot_write(tenant, clients):
    article = ArticleFactory(tenant=tenant)
    agent = clients[Role.AGENT]
    before = list(_rows(tenant, Article).values())
    assert agent.post(LIST, {"title": "Novo"}, format="json").status_code == 403
    assert agent.patch(_detail(article), {"title": "Mudado"}, format="json").status_code == 403
    assert agent.delete(_detail(article)).status_code == 403
    assert agent.get(f"{_detail(article)}/versions").status_code == 403
    response = agent.post(f"{LIST}/import", {"files": [SimpleUploadedFile("a.md", b"# A\n")]}, format="multipart")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert list(_rows(tenant, Article).values()) == before


def test_anonymous_gets_nothing(api_client, tenant):
    ArticleFactory(tenant=tenant)
    assert api_client.get(LIST).status_code == 401
    assert api_client.post("/api/v1/knowledge/search", {"query": "x"}, format="json").status_code == 401


# --- CRUD and versions -------------------------------------------------------------------------


def test_create_update_and_versions(tenant, clients):
    supervisor = clients[Role.SUPERVISOR]
    response = supervisor.post(
        LIST,
        {"title": " Prazo de entrega ", "body": "5 dias úteis.", "tags": ["Logística", "logística", "frete"],
         "category": "Pedidos", "status": "published"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["title"], created["tags"], created["language"], created["status"]) == (
        "Prazo de entrega", ["logística", "frete"], "pt-br", "published",
    )  # fmt: skip
    article = Article.all_tenants.get(pk=created["id"])
    assert created["created_by"] == created["updated_by"] is not None

    # Only status changes: no new version. A new body: version 2.
    supervisor.patch(_detail(article), {"status": "draft"}, format="json")
    assert _rows(tenant, ArticleVersion).count() == 1
    response = supervisor.patch(_detail(article), {"body": "7 dias úteis."}, format="json")
    assert response.status_code == 200
    assert response.json()["body"] == "7 dias úteis."

    versions = supervisor.get(f"{_detail(article)}/versions").json()["results"]
    assert [(v["number"], v["body"]) for v in versions] == [(2, "7 dias úteis."), (1, "5 dias úteis.")]
    assert list(_rows(tenant, ArticleChunk).values_list("text", flat=True)) == ["7 dias úteis."]
    assert {"prazo", "entrega", "dias", "uteis", "pedidos"} <= set(_rows(tenant, Term).values_list("word", flat=True))

    one = supervisor.get(f"{_detail(article)}/versions/{versions[1]['id']}")
    assert one.json()["body"] == "5 dias úteis."


def test_restore_a_version(tenant, clients):
    admin = clients[Role.ADMIN]
    article_id = admin.post(LIST, {"title": "Garantia", "body": "90 dias."}, format="json").json()["id"]
    admin.put(f"{LIST}/{article_id}", {"title": "Garantia estendida", "body": "1 ano."}, format="json")
    first = ArticleVersion.all_tenants.get(article_id=article_id, number=1)

    response = admin.post(f"{LIST}/{article_id}/versions/{first.pk}/restore")
    assert response.status_code == 200, response.content
    assert (response.json()["title"], response.json()["body"]) == ("Garantia", "90 dias.")
    versions = ArticleVersion.all_tenants.filter(article_id=article_id).order_by("number")
    assert [(v.number, v.title, v.restored_from) for v in versions] == [
        (1, "Garantia", None),
        (2, "Garantia estendida", None),
        (3, "Garantia", 1),
    ]


def test_invalid_input_is_a_coded_error(tenant, clients):
    admin = clients[Role.ADMIN]
    assert admin.post(LIST, {"body": "sem título"}, format="json").json()["fields"] == {
        "title": ["This field is required."]
    }
    response = admin.post(LIST, {"title": "   "}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] in ("invalid", "invalid_article")
    assert _rows(tenant, Article).count() == 0


def test_delete_takes_versions_and_chunks(tenant, clients):
    admin = clients[Role.ADMIN]
    article_id = admin.post(LIST, {"title": "Apagar", "body": "Texto."}, format="json").json()["id"]
    assert admin.delete(f"{LIST}/{article_id}").status_code == 204
    assert _rows(tenant, Article).count() == _rows(tenant, ArticleVersion).count() == 0
    assert _rows(tenant, ArticleChunk).count() == 0


def test_filters(tenant, clients):
    ArticleFactory(tenant=tenant, title="A", category="Pedidos", tags=["frete"], language="pt-br")
    ArticleFactory(tenant=tenant, title="B", category="Financeiro", tags=["boleto"], language="en")
    ArticleFactory(tenant=tenant, title="C", category="pedidos", tags=["frete", "boleto"], status="draft")
    admin = clients[Role.ADMIN]

    def titles(**params):
        return sorted(item["title"] for item in admin.get(LIST, params).json()["results"])

    assert titles(category="pedidos") == ["A", "C"]
    assert titles(tag="Boleto") == ["B", "C"]
    assert titles(language="en") == ["B"]
    assert titles(status="draft") == ["C"]
    assert titles(title="b") == ["B"]


def test_the_list_is_paginated_in_a_fixed_number_of_queries(tenant, clients, django_assert_num_queries):
    for number in range(30):
        ArticleFactory(tenant=tenant, title=f"Artigo {number:02d}")
    agent = clients[Role.AGENT]
    agent.get(LIST)  # warm the membership lookup path
    with django_assert_num_queries(3):  # the membership with its user (JWT), count, page
        response = agent.get(LIST, {"page_size": 10})
    data = response.json()
    assert (data["count"], len(data["results"])) == (30, 10)


# --- Use and search ------------------------------------------------------------------------------


def test_use_counts_the_article(tenant, clients):
    article = ArticleFactory(tenant=tenant)
    agent = clients[Role.AGENT]
    assert agent.post(f"/api/v1/knowledge/{article.pk}/use").json()["usage_count"] == 1
    response = agent.post(reverse("knowledge-article-use", kwargs={"pk": article.pk}))
    assert response.json()["usage_count"] == 2
    article.refresh_from_db()
    assert article.usage_count == 2
    assert article.last_used_at is not None
    draft = ArticleFactory(tenant=tenant, status="draft")
    assert agent.post(f"/api/v1/knowledge/{draft.pk}/use").status_code == 404


def test_search(tenant, clients, write_article):
    write_article("Prazo de entrega", "O prazo de entrega é de 5 dias úteis.", tags=["logistica"])
    write_article("Nota fiscal", "A nota fiscal vai por e-mail.")
    write_article("Entrega expressa (rascunho)", "Entrega em 24 horas.", status="draft")
    response = clients[Role.AGENT].post(
        "/api/v1/knowledge/search", {"query": "prazo de entega", "limit": 3}, format="json"
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [hit["article"]["title"] for hit in results] == ["Prazo de entrega"]
    assert results[0]["score"] > 0
    assert "<mark>" in results[0]["headline"]

    # Drafts: staff may ask for them, agents may not.
    body = {"query": "entrega", "include_drafts": True}
    agent_titles = [hit["article"]["title"] for hit in clients[Role.AGENT].post(
        "/api/v1/knowledge/search", body, format="json").json()["results"]]  # fmt: skip
    staff_titles = [hit["article"]["title"] for hit in clients[Role.ADMIN].post(
        "/api/v1/knowledge/search", body, format="json").json()["results"]]  # fmt: skip
    assert "Entrega expressa (rascunho)" not in agent_titles
    assert "Entrega expressa (rascunho)" in staff_titles

    tagged = clients[Role.AGENT].post(
        "/api/v1/knowledge/search", {"query": "entrega nota", "tags": ["LOGISTICA"]}, format="json"
    )
    assert [hit["article"]["title"] for hit in tagged.json()["results"]] == ["Prazo de entrega"]

    invalid = clients[Role.AGENT].post("/api/v1/knowledge/search", {"query": "", "limit": 99}, format="json")
    assert invalid.status_code == 400
    assert set(invalid.json()["fields"]) == {"query", "limit"}


def test_search_never_shows_another_tenants_articles(tenant, other_tenant, clients, write_article):
    write_article("Prazo de entrega", "Cinco dias.")
    write_article("Prazo de entrega secreto", "Segredo da outra empresa.", in_tenant=other_tenant)
    response = clients[Role.ADMIN].post(
        "/api/v1/knowledge/search", {"query": "prazo entrega segredo", "include_drafts": True}, format="json"
    )
    assert [hit["article"]["title"] for hit in response.json()["results"]] == ["Prazo de entrega"]
    assert "Segredo" not in response.content.decode()


# --- Import ------------------------------------------------------------------------------------


def test_import_csv_and_markdown(tenant, clients):
    ArticleFactory(tenant=tenant, title="Formas de pagamento", body="Cartão.", language="pt-br")
    csv_file = SimpleUploadedFile(
        "base.csv",
        "title;body;tags;category;language\n"
        "Prazo de entrega;5 dias úteis.;frete|logística;Pedidos;pt-br\n"
        "formas de pagamento;Cartão e Pix.;;Financeiro;\n"
        ";sem título;;;\n"
        "Delivery;5 business days.;;Orders;en\n".encode(),
        content_type="text/csv",
    )
    markdown = SimpleUploadedFile("trocas.md", "\n# Trocas e devoluções\n\nVocê tem **7 dias**.\n".encode())
    untitled = SimpleUploadedFile("politica-de-garantia.md", b"Garantia de 90 dias.")
    response = clients[Role.SUPERVISOR].post(
        f"{LIST}/import",
        {"files": [csv_file, markdown, untitled], "status": "published", "category": "Geral"},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    result = response.json()
    assert (result["created"], result["updated"], result["unchanged"]) == (4, 1, 0)
    assert [(error["file"], error["row"], error["fields"]) for error in result["errors"]] == [
        ("base.csv", 4, {"title": ["An article needs a title."]})
    ]
    articles = {a.title: a for a in _rows(tenant, Article)}
    assert set(articles) == {
        "Prazo de entrega", "Formas de pagamento", "Delivery", "Trocas e devoluções", "politica de garantia",
    }  # fmt: skip
    assert articles["Prazo de entrega"].tags == ["frete", "logística"]
    assert (articles["Prazo de entrega"].status, articles["Delivery"].language) == ("published", "en")
    assert articles["Formas de pagamento"].body == "Cartão e Pix."
    assert (articles["Trocas e devoluções"].body, articles["Trocas e devoluções"].category) == (
        "Você tem **7 dias**.", "Geral",
    )  # fmt: skip


def test_import_rejects_unreadable_files(tenant, clients):
    response = clients[Role.ADMIN].post(
        f"{LIST}/import", {"files": [SimpleUploadedFile("base.xlsx", b"PK\x03\x04")]}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_import_file"
    no_title = SimpleUploadedFile("base.csv", b"name,body\nA,B\n")
    response = clients[Role.ADMIN].post(f"{LIST}/import", {"files": [no_title]}, format="multipart")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_import_file")
    assert _rows(tenant, Article).count() == 0
