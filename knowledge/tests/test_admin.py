"""The knowledge base in the admin: edits go through the services (versions), bulk publish,
the import page. Scoping to the tenant is swept by tests/test_admin_scoping.py."""

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Role
from knowledge.models import Article, ArticleVersion, Term
from knowledge.tests.factories import ArticleFactory
from tenants.selectors import SESSION_TENANT_KEY


def _login(client, user, tenant):
    client.force_login(user)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return client


def _messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def supervisor_client(client, tenant, make_member):
    return _login(client, make_member(tenant, Role.SUPERVISOR, name="Sergio Supervisor"), tenant)


def _form(**values):
    return {
        "title": "", "body": "", "tags": "", "category": "", "language": "pt-br", "status": "draft",
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0", "_save": "Save", **values,
    }  # fmt: skip


def test_add_and_change_keep_versions(supervisor_client, tenant):
    response = supervisor_client.post(
        reverse("admin:knowledge_article_add"),
        _form(title="Prazo de entrega", body="5 dias.", tags="frete, Logística"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    article = Article.all_tenants.get(tenant=tenant)
    assert (article.tags, article.created_by.name) == (["frete", "logística"], "Sergio Supervisor")
    assert "entrega" in set(Term.all_tenants.filter(tenant=tenant).values_list("word", flat=True))

    url = reverse("admin:knowledge_article_change", args=[article.pk])
    page = supervisor_client.get(url)
    assert page.status_code == 200
    assert [formset.opts.__class__.__name__ for formset in page.context["inline_admin_formsets"]] == [
        "ArticleVersionInline"
    ]
    supervisor_client.post(url, _form(title="Prazo de entrega", body="7 dias.", tags="frete, logística"))
    versions = ArticleVersion.all_tenants.filter(article=article).order_by("number")
    assert [(v.number, v.body) for v in versions] == [(1, "5 dias."), (2, "7 dias.")]


def test_publish_and_unpublish_in_bulk(supervisor_client, tenant):
    drafts = [ArticleFactory(tenant=tenant, status="draft"), ArticleFactory(tenant=tenant, status="draft")]
    response = supervisor_client.post(
        reverse("admin:knowledge_article_changelist"),
        {"action": "publish", "_selected_action": [a.pk for a in drafts], "index": 0},
    )
    assert _messages(response) == ["2 articles published."]
    assert set(Article.all_tenants.filter(tenant=tenant).values_list("status", flat=True)) == {"published"}


def test_the_import_page(supervisor_client, tenant):
    page = supervisor_client.get(reverse("admin:knowledge_article_changelist"))
    assert reverse("admin:knowledge_article_import") in page.content.decode()
    response = supervisor_client.post(
        reverse("admin:knowledge_article_import"),
        {
            "files": [
                SimpleUploadedFile("a.md", b"# Trocas\n\nSete dias."),
                SimpleUploadedFile("b.csv", b"title,body\nPagamento,Pix\n,orphan\n"),
            ],
            "language": "pt-br",
            "category": "",
            "status": "published",
        },
    )
    assert response.status_code == 302
    assert _messages(response) == [
        "2 articles created, 0 updated, 0 unchanged.",
        "b.csv:3: This article is invalid.",
    ]
    assert set(Article.all_tenants.filter(tenant=tenant).values_list("title", "status")) == {
        ("Trocas", "published"),
        ("Pagamento", "published"),
    }


def test_the_import_page_shows_file_errors(supervisor_client, tenant):
    response = supervisor_client.post(
        reverse("admin:knowledge_article_import"),
        {"files": [SimpleUploadedFile("a.pdf", b"%PDF")], "language": "pt-br", "status": "draft"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["files"][0] == "The file is not a CSV or Markdown file Prosa can read."
    assert not Article.all_tenants.filter(tenant=tenant).exists()
