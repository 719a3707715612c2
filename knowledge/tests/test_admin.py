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


def test_an_earlier_version_is_restored_as_a_new_version(supervisor_client, tenant, other_tenant):
    from knowledge import services
    from tenants.context import tenant_context

    with tenant_context(tenant):
        article = services.article_create(tenant=tenant, actor=None, title="Prazo", body="5 dias.")
        services.article_update(article=article, actor=None, title="Prazo novo", body="7 dias.")
    first = ArticleVersion.all_tenants.get(article=article, number=1)
    page = supervisor_client.get(reverse("admin:knowledge_article_change", args=[article.pk]))
    restore_url = reverse("admin:knowledge_article_version_restore", args=[article.pk, first.pk])
    assert restore_url in page.content.decode()

    confirm = supervisor_client.get(restore_url)
    assert confirm.status_code == 200 and "5 dias." in confirm.content.decode()
    assert ArticleVersion.all_tenants.filter(article=article).count() == 2  # a GET changes nothing

    response = supervisor_client.post(restore_url)
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.body) == ("Prazo", "5 dias.")
    history = ArticleVersion.all_tenants.filter(article=article).order_by("number")
    assert [(v.number, v.title, v.restored_from) for v in history] == [
        (1, "Prazo", None), (2, "Prazo novo", None), (3, "Prazo", 1)]  # fmt: skip

    # Another tenant's version (or article) is like a missing one, and nothing is written.
    with tenant_context(other_tenant):
        theirs = services.article_create(tenant=other_tenant, actor=None, title="Deles", body="Texto deles.")
    their_version = ArticleVersion.all_tenants.get(article=theirs)
    for url in (
        reverse("admin:knowledge_article_version_restore", args=[theirs.pk, their_version.pk]),
        reverse("admin:knowledge_article_version_restore", args=[article.pk, their_version.pk]),
    ):
        response = supervisor_client.post(url)
        assert (response.status_code, response["Location"]) == (302, reverse("admin:index"))
    assert ArticleVersion.all_tenants.filter(article=theirs).count() == 1
    assert ArticleVersion.all_tenants.filter(article=article).count() == 3


def test_the_review_queue_in_the_admin(
    supervisor_client, tenant, fake_openai, ai_on_fake, django_capture_on_commit_callbacks
):
    from knowledge.models import ArticleProposal
    from knowledge.tests.factories import ArticleProposalFactory

    article = ArticleFactory(tenant=tenant, title="Antigo", body="Texto antigo.")
    proposal = ArticleProposalFactory(tenant=tenant, article=article, title="Novo", body="Texto novo.")
    rejected = ArticleProposalFactory(tenant=tenant)
    changelist = reverse("admin:knowledge_articleproposal_changelist")
    page = supervisor_client.get(changelist)
    assert page.status_code == 200 and "Novo" in page.content.decode()

    # The reviewer corrects the title before accepting.
    change = reverse("admin:knowledge_articleproposal_change", args=[proposal.pk])
    supervisor_client.post(change, {"title": "Novo e claro", "body": "Texto novo.", "_save": "Save"})
    supervisor_client.post(changelist, {"action": "accept", "_selected_action": [proposal.pk]})
    supervisor_client.post(changelist, {"action": "reject", "_selected_action": [rejected.pk]})
    article.refresh_from_db()
    assert (article.title, article.body, article.status) == ("Novo e claro", "Texto novo.", "published")
    statuses = dict(ArticleProposal.all_tenants.values_list("pk", "status"))
    assert statuses == {proposal.pk: "accepted", rejected.pk: "rejected"}
    response = supervisor_client.post(changelist, {"action": "accept", "_selected_action": [proposal.pk]}, follow=True)
    assert any("already reviewed" in message for message in _messages(response))

    # "Run optimize": without AI it explains; with AI it queues a run.
    optimize_url = reverse("admin:knowledge_articleproposal_optimize")
    response = supervisor_client.post(optimize_url, follow=True)
    assert any("AI is not configured" in message for message in _messages(response))
    ai_on_fake(tenant, chat_model="c")
    ArticleFactory(tenant=tenant, title="Confuso", body="texto confuso", usage_count=50)
    fake_openai.reply({"title": "Claro", "body": "Texto claro.", "reason": "."})
    with django_capture_on_commit_callbacks(execute=True):
        response = supervisor_client.post(optimize_url)
    assert response.status_code == 302
    assert ArticleProposal.all_tenants.filter(status="pending", title="Claro").count() == 1
    assert supervisor_client.get(optimize_url).status_code == 403
