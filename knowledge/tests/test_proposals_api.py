"""The review queue's API: list (staff only), run optimize (409 without AI), accept, reject."""

import pytest

from accounts.models import Role
from knowledge.models import Article, ArticleProposal
from knowledge.tests.factories import ArticleFactory, ArticleProposalFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/knowledge/proposals"


@pytest.fixture
def clients(tenant, make_member, client_for):
    return {role: client_for(make_member(tenant, role), tenant) for role in (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)}


def test_staff_list_and_filter_the_queue_agents_cannot(tenant, other_tenant, clients):
    pending = ArticleProposalFactory(tenant=tenant, title="Proposta pendente")
    ArticleProposalFactory(tenant=tenant, status="rejected", title="Proposta recusada")
    ArticleProposalFactory(tenant=other_tenant, title="Proposta de outro")
    assert clients[Role.AGENT].get(LIST).status_code == 403
    response = clients[Role.SUPERVISOR].get(LIST, {"status": "pending"})
    assert response.status_code == 200
    [item] = response.json()["results"]
    assert (item["id"], item["kind"], item["article"], item["source_articles"]) == (
        pending.pk, "rewrite", pending.article_id, []
    )  # fmt: skip
    assert len(clients[Role.ADMIN].get(LIST).json()["results"]) == 2


def test_optimize_without_ai_is_409(clients):
    response = clients[Role.ADMIN].post(LIST + "/optimize", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "ai_not_configured"
    assert clients[Role.AGENT].post(LIST + "/optimize", {}, format="json").status_code == 403


def test_optimize_queues_a_run_that_fills_the_queue(
    tenant, clients, fake_openai, ai_on_fake, django_capture_on_commit_callbacks
):
    ai_on_fake(tenant, chat_model="c")
    article = ArticleFactory(tenant=tenant, title="Troca", body="texto confuso")
    ArticleFactory(tenant=tenant, title="Outro", body="outro texto", status="draft")
    fake_openai.reply({"title": "Troca", "body": "Texto claro.", "reason": "Mais claro."})
    with django_capture_on_commit_callbacks(execute=True):
        response = clients[Role.ADMIN].post(LIST + "/optimize", {"kinds": ["rewrite"]}, format="json")
    assert response.status_code == 202
    [proposal] = ArticleProposal.all_tenants.all()
    assert (proposal.article_id, proposal.body, proposal.model) == (article.pk, "Texto claro.", "c")
    bad = clients[Role.ADMIN].post(LIST + "/optimize", {"kinds": ["publish-everything"]}, format="json")
    assert bad.status_code == 400


def test_accept_and_reject(tenant, clients):
    article = ArticleFactory(tenant=tenant, title="Antigo", body="Texto antigo.", status="draft")
    proposal = ArticleProposalFactory(tenant=tenant, article=article, title="Novo", body="Texto novo.")
    response = clients[Role.SUPERVISOR].post(f"{LIST}/{proposal.pk}/accept", {"publish": True}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["result_article"]) == ("accepted", article.pk)
    article.refresh_from_db()
    assert (article.title, article.body, article.status) == ("Novo", "Texto novo.", "published")
    again = clients[Role.SUPERVISOR].post(f"{LIST}/{proposal.pk}/reject", {}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "proposal_not_pending")

    other = ArticleProposalFactory(tenant=tenant)
    response = clients[Role.ADMIN].post(f"{LIST}/{other.pk}/reject", {"note": "Não."}, format="json")
    assert (response.status_code, response.json()["status"], response.json()["review_note"]) == (
        200,
        "rejected",
        "Não.",
    )
    assert clients[Role.AGENT].post(f"{LIST}/{other.pk}/accept", {}, format="json").status_code == 403
    assert Article.all_tenants.get(pk=other.article_id).title != other.title
