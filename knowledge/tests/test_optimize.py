"""The AI's "optimize": proposals of rewrites, merges and new articles, waiting in a review queue,
and what accepting or rejecting them does — against the fake OpenAI-compatible server."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ai.models import AIUsage
from ai.tests.fakes import CHAT
from knowledge import optimize, services
from knowledge.exceptions import ProposalNotPending, ProposalStale
from knowledge.models import Article, ArticleProposal, ArticleVersion
from tenants.context import tenant_context
from tickets.models import Message, Ticket
from tickets.tests.factories import MessageFactory, TicketFactory

pytestmark = pytest.mark.django_db

ASKED = "Vocês entregam em Manaus? Qual o prazo para o Amazonas?"
ANSWERED = "Sim! Para Manaus o prazo é de 12 dias úteis, pela transportadora parceira."


def _closed_ticket(tenant, *, question=ASKED, answer=ANSWERED, days_ago=1):
    ticket = TicketFactory(
        tenant=tenant, status=Ticket.Status.CLOSED, closed_at=timezone.now() - timedelta(days=days_ago)
    )
    MessageFactory(
        tenant=tenant, ticket=ticket, text=question, sent_at=timezone.now() - timedelta(days=days_ago, hours=1)
    )
    MessageFactory(
        tenant=tenant,
        ticket=ticket,
        text=answer,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        sent_at=timezone.now() - timedelta(days=days_ago, minutes=30),
    )
    return ticket


def _run(tenant, kinds, actor=None):
    return optimize.knowledge_optimize(tenant=tenant, actor=actor, kinds=kinds)


def test_a_rewrite_waits_for_review_and_becomes_a_new_version(tenant, ai_with_embeddings, fake_openai,
                                                              write_article, admin_user):  # fmt: skip
    article = write_article("Troca", "pode trocar em 30 dia se tiver nota. sem nota nao troca")
    clearer = "Você pode trocar em até **30 dias**, com a nota fiscal."
    fake_openai.reply({"title": "Como trocar um produto", "body": clearer, "reason": "Frases completas."})

    [proposal] = _run(tenant, ["rewrite"])
    assert (proposal.kind, proposal.status, proposal.article_id, proposal.base_version) == (
        "rewrite",
        "pending",
        article.pk,
        1,
    )
    article.refresh_from_db()
    assert article.body.startswith("pode trocar")  # nothing applied before review
    assert AIUsage.all_tenants.filter(tenant=tenant, feature="compose").count() == 1
    assert _run(tenant, ["rewrite"]) == []  # one pending rewrite per article: not asked again
    assert len(fake_openai.chat_requests()) == 1

    with tenant_context(tenant):
        accepted = optimize.proposal_accept(proposal=proposal, actor=admin_user)
    article.refresh_from_db()
    assert (accepted.status, accepted.reviewed_by, accepted.result_article_id) == ("accepted", admin_user, article.pk)
    assert (article.title, article.status) == ("Como trocar um produto", "published")
    assert list(ArticleVersion.all_tenants.filter(article=article).values_list("number", "title")) == [
        (2, "Como trocar um produto"), (1, "Troca")]  # fmt: skip
    with tenant_context(tenant), pytest.raises(ProposalNotPending):
        optimize.proposal_accept(proposal=proposal, actor=admin_user)


def test_a_rewrite_of_an_article_changed_since_is_refused(tenant, ai_with_embeddings, fake_openai, write_article):
    article = write_article("Troca", "Texto antigo.")
    fake_openai.reply({"title": "Troca", "body": "Texto novo.", "reason": "."})
    [proposal] = _run(tenant, ["rewrite"])
    with tenant_context(tenant):
        services.article_update(article=article, actor=None, body="Alguém mudou antes da revisão.")
        with pytest.raises(ProposalStale):
            optimize.proposal_accept(proposal=proposal, actor=None)
    article.refresh_from_db()
    assert article.body == "Alguém mudou antes da revisão."


def test_unchanged_or_unreadable_answers_propose_nothing(tenant, ai_with_embeddings, fake_openai, write_article):
    write_article("Clara", "Já está clara.")
    write_article("Outra", "Também.")
    fake_openai.reply({"unchanged": True})
    fake_openai.reply("not json at all")
    assert _run(tenant, ["rewrite"]) == []
    assert ArticleProposal.all_tenants.count() == 0


def test_duplicates_are_merged_on_acceptance(tenant, ai_with_embeddings, fake_openai, write_article, admin_user):
    kept = write_article("Prazo de entrega", "Entregamos em 5 dias úteis.")
    duplicate = write_article("Prazos de entrega", "O prazo é de cinco dias úteis para capitais.")
    unrelated = write_article("Formas de pagamento", "Pix e cartão.")
    Article.all_tenants.filter(pk=kept.pk).update(usage_count=9)  # the more used one stays
    fake_openai.reply({"duplicate": True, "title": "Prazo de entrega",
                       "body": "Entregamos em 5 dias úteis (capitais).", "reason": "Mesmo assunto."})  # fmt: skip

    [proposal] = _run(tenant, ["merge"])
    assert proposal.article_id == kept.pk
    assert list(proposal.source_articles.through.objects.values_list("article_id", flat=True)) == [duplicate.pk]
    assert "Prazos de entrega" in fake_openai.chat_requests()[0]["messages"][1]["content"]

    with tenant_context(tenant):
        optimize.proposal_accept(proposal=proposal, actor=admin_user)
    statuses = dict(Article.all_tenants.values_list("pk", "status"))
    assert statuses == {kept.pk: "published", duplicate.pk: "draft", unrelated.pk: "published"}
    assert Article.all_tenants.get(pk=kept.pk).body == "Entregamos em 5 dias úteis (capitais)."
    assert _run(tenant, ["merge"]) == []  # the duplicate is a draft now; no pair is left


def test_a_rejected_merge_is_not_proposed_again(tenant, ai_with_embeddings, fake_openai, write_article, admin_user):
    write_article("Prazo de entrega", "Entregamos em 5 dias úteis.")
    write_article("Prazos de entrega", "Retirada na loja em 1 dia.")
    fake_openai.reply({"duplicate": True, "title": "Prazo", "body": "Junto.", "reason": "."})
    [proposal] = _run(tenant, ["merge"])
    with tenant_context(tenant):
        rejected = optimize.proposal_reject(proposal=proposal, actor=admin_user, note="São assuntos diferentes.")
    assert (rejected.status, rejected.review_note) == ("rejected", "São assuntos diferentes.")
    assert _run(tenant, ["merge"]) == []
    assert len(fake_openai.chat_requests()) == 1
    assert Article.all_tenants.filter(status="published").count() == 2


def test_a_closed_ticket_the_base_could_not_answer_becomes_a_draft(tenant, ai_with_embeddings, fake_openai,
                                                                    write_article, admin_user):  # fmt: skip
    write_article("Prazo de entrega em Manaus", "Entregamos em Manaus em 12 dias úteis.")
    answered = _closed_ticket(tenant, question="Qual o prazo de entrega em Manaus?")  # the base answers it
    lacking = _closed_ticket(tenant, question="Posso parcelar no boleto?", answer="Sim, em até 3 vezes no boleto.")
    _closed_ticket(tenant, question="Posso pagar com cheque?", days_ago=30)  # too old
    TicketFactory(tenant=tenant, status=Ticket.Status.OPEN)
    fake_openai.reply({"title": "Parcelamento no boleto", "body": "Parcelamos no boleto em até 3 vezes.",
                       "reason": "Pergunta sem artigo."})  # fmt: skip

    [proposal] = _run(tenant, ["draft"])
    assert (proposal.kind, proposal.title, proposal.language) == ("draft", "Parcelamento no boleto", "pt-br")
    assert list(proposal.source_tickets.through.objects.values_list("ticket_id", flat=True)) == [lacking.pk]
    sent = fake_openai.chat_requests()[0]["messages"][1]["content"]
    assert "Sim, em até 3 vezes no boleto." in sent and answered.pk != lacking.pk
    assert AIUsage.all_tenants.get(tenant=tenant, feature="compose").ticket_id == lacking.pk
    assert _run(tenant, ["draft"]) == []  # a ticket feeds one proposal

    with tenant_context(tenant):
        accepted = optimize.proposal_accept(proposal=proposal, actor=admin_user, title="Boleto parcelado")
    created = Article.all_tenants.get(pk=accepted.result_article_id)
    assert (created.title, created.status, created.body) == (
        "Boleto parcelado",
        "draft",
        "Parcelamos no boleto em até 3 vezes.",
    )


def test_accepting_can_publish(tenant, ai_with_embeddings, fake_openai):
    _closed_ticket(tenant, question="Vocês abrem aos domingos?", answer="Não, só de segunda a sábado.")
    fake_openai.reply({"title": "Horário", "body": "De segunda a sábado.", "reason": "."})
    [proposal] = _run(tenant, ["draft"])
    with tenant_context(tenant):
        accepted = optimize.proposal_accept(proposal=proposal, actor=None, publish=True)
    assert Article.all_tenants.get(pk=accepted.result_article_id).status == "published"


def test_a_run_stops_at_the_first_provider_failure_and_keeps_what_it_has(tenant, ai_with_embeddings, fake_openai,
                                                                          write_article):  # fmt: skip
    write_article("A primeira", "Texto um.")
    write_article("A segunda", "Texto dois.")
    Article.all_tenants.filter(title="A primeira").update(usage_count=5)
    fake_openai.fail(CHAT, status=400, times=1)  # the first request fails (not retryable)
    assert _run(tenant, ["rewrite", "merge", "draft"]) == []  # the run ended quietly
    assert len(fake_openai.chat_requests()) == 1


def test_optimize_respects_the_monthly_cap(tenant, ai_with_embeddings, fake_openai, write_article):
    write_article("A primeira", "Texto um.")
    tenant.max_ai_requests_per_month = 0
    tenant.save()
    assert _run(tenant, ["rewrite"]) == []
    assert fake_openai.chat_requests() == []


def test_duplicates_found_by_embeddings_despite_different_titles(tenant, ai_with_embeddings, fake_openai,
                                                                  write_article):  # fmt: skip
    same = [0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5]
    fake_openai.embed_as("Como devolver\n\nDevoluções em até 7 dias pelo site.", same)
    fake_openai.embed_as("Arrependimento da compra\n\nVocê pode desistir em 7 dias, pelo site.", same)
    first = write_article("Como devolver", "Devoluções em até 7 dias pelo site.")
    second = write_article("Arrependimento da compra", "Você pode desistir em 7 dias, pelo site.")
    write_article("Formas de pagamento", "Pix e cartão.")
    with tenant_context(tenant):
        services.article_chunks_embed(tenant=tenant)
    fake_openai.reply({"duplicate": True, "title": "Devolução e arrependimento", "body": "Em até 7 dias.",
                       "reason": "Mesmo assunto."})  # fmt: skip
    [proposal] = _run(tenant, ["merge"])
    duplicates = list(proposal.source_articles.through.objects.values_list("article_id", flat=True))
    assert {proposal.article_id, *duplicates} == {first.pk, second.pk}


def test_long_articles_are_not_rewritten_from_a_cut_text(tenant, ai_with_embeddings, fake_openai, write_article):
    write_article("Manual completo", "Parágrafo longo. " * (optimize.ARTICLE_CHARS // 10))
    assert _run(tenant, ["rewrite"]) == []
    assert fake_openai.chat_requests() == []
