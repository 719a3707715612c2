# ruff: noqa: F401, F811 — fixtures imported for these tests
"""AI agents: the API, and bot_reply against the fake provider with real (indexed) articles."""

import pytest
from django.utils import timezone

from accounts.models import Role
from ai import services
from ai.models import AIAgent, AIUsage, Feature
from ai.tests.factories import AIAgentFactory
from crm.tests.factories import ContactFactory
from tenants.context import tenant_context
from tickets.models import Message, Ticket
from tickets.tests.factories import MessageFactory, QueueFactory, TicketFactory
from whatsapp.tests.inbound_fixtures import published

pytestmark = pytest.mark.django_db


@pytest.fixture
def knowledge_base(tenant):
    from knowledge import services as knowledge_services

    articles = {}
    with tenant_context(tenant):
        for title, body, status, category in [
            ("Prazos de entrega", "As entregas levam até 5 dias úteis para todo o Brasil.", "published", "logistica"),
            ("Troca de tamanho", "Trocas de roupas e calçados em até 30 dias.", "published", "trocas"),
            ("Entrega expressa (rascunho)", "Entrega expressa em 1 dia por R$ 30.", "draft", "logistica"),
        ]:
            articles[title] = knowledge_services.article_create(
                tenant=tenant, actor=None, title=title, body=body, status=status, category=category
            )
    return articles


@pytest.fixture
def handoff_queue(tenant):
    return QueueFactory(tenant=tenant, name="Humanos")


@pytest.fixture
def agent(tenant, handoff_queue):
    return AIAgentFactory(tenant=tenant, name="Lia", handoff_queue=handoff_queue, max_bot_turns=2)


@pytest.fixture
def ticket(tenant):
    ticket = TicketFactory(
        tenant=tenant, contact=ContactFactory(tenant=tenant, name="Maria Souza"), is_bot=True,
        last_inbound_at=timezone.now(),
    )  # fmt: skip
    MessageFactory(tenant=tenant, ticket=ticket, text="Quanto tempo leva a entrega?")
    return ticket


def _reply(tenant, ticket, agent, text):
    with tenant_context(tenant):
        return services.bot_reply(ticket=ticket, agent=agent, customer_text=text)


def _handed_over(tenant, ticket, queue) -> str:
    """Asserts the ticket is with people in `queue`; returns the note that says why (in the
    tenant's language, pt-BR here)."""
    with tenant_context(tenant):
        fresh = Ticket.objects.get(pk=ticket.pk)
        assert (fresh.status, fresh.queue_id, fresh.is_bot) == (Ticket.Status.PENDING, queue.pk, False)
        assert not Message.objects.filter(ticket=ticket, sender_type=Message.SenderType.BOT).exists()
        return Message.objects.get(ticket=ticket, is_internal_note=True).text


def test_grounded_answer_cites_the_article_it_came_from(
    tenant, ticket, agent, ai_settings, fake_openai, knowledge_base
):
    delivery = knowledge_base["Prazos de entrega"]
    fake_openai.reply(
        {"answer": "Leva até 5 dias úteis.", "known": True, "article_ids": [delivery.pk], "sentiment": "neutral"}
    )
    outcome = _reply(tenant, ticket, agent, "Quanto tempo leva a entrega?")
    assert outcome.answered and outcome.article_ids == [delivery.pk]
    with tenant_context(tenant):
        message = Message.objects.get(ticket=ticket, sender_type=Message.SenderType.BOT)
        assert message.text == "Leva até 5 dias úteis."
        assert message.payload == {"ai_agent": agent.pk, "articles": [delivery.pk]}
        assert AIUsage.objects.get(feature=Feature.BOT_REPLY).ticket_id == ticket.pk
        assert Ticket.objects.get(pk=ticket.pk).is_bot is True
    system = fake_openai.chat_requests()[0]["messages"][0]["content"]
    assert f"[Article {delivery.pk}] Prazos de entrega" in system
    assert "R$ 30" not in system  # drafts are never used
    assert "ONLY from the knowledge base" in system and "You are Lia" in system


def test_scope_limits_the_articles(tenant, ticket, handoff_queue, ai_settings, fake_openai, knowledge_base):
    agent = AIAgentFactory(tenant=tenant, handoff_queue=handoff_queue, knowledge_categories=["trocas"])
    outcome = _reply(tenant, ticket, agent, "Quanto tempo leva a entrega?")
    assert (outcome.answered, outcome.reason) == (False, "nothing_found")
    assert fake_openai.chat_requests() == []


@pytest.mark.parametrize(
    "text", ["Quero falar com um atendente", "HUMANO por favor", "I want a human", "Falar com alguém"]
)
def test_customer_asking_for_a_person_hands_over(tenant, ticket, agent, handoff_queue, ai_settings, fake_openai, text):
    outcome = _reply(tenant, ticket, agent, text)
    assert outcome.reason == "person_asked"
    assert "pediu para falar com uma pessoa" in _handed_over(tenant, ticket, handoff_queue)
    assert fake_openai.chat_requests() == []


def test_a_handoff_notifies_the_agents_of_the_handoff_queue(
    tenant, ticket, agent, handoff_queue, ai_settings, published, django_capture_on_commit_callbacks
):
    from tickets.events import queue_group

    with django_capture_on_commit_callbacks(execute=True):
        outcome = _reply(tenant, ticket, agent, "Quero falar com um atendente")
    assert outcome.reason == "person_asked"
    announced = [groups for groups, kind, data in published if kind == "ticket.updated" and data["id"] == ticket.pk]
    assert any(queue_group(tenant.pk, handoff_queue.pk) in groups for groups in announced), published


def test_nothing_relevant_found_hands_over(
    tenant, ticket, agent, handoff_queue, ai_settings, fake_openai, knowledge_base
):
    outcome = _reply(tenant, ticket, agent, "Vocês vendem bicicletas elétricas?")
    assert outcome.reason == "nothing_found"
    assert "não tem nada sobre" in _handed_over(tenant, ticket, handoff_queue)


def test_model_saying_it_does_not_know_hands_over(
    tenant, ticket, agent, handoff_queue, ai_settings, fake_openai, knowledge_base
):
    fake_openai.reply({"answer": "Não sei.", "known": False, "article_ids": [], "sentiment": "neutral"})
    outcome = _reply(tenant, ticket, agent, "A entrega para Portugal custa quanto?")
    assert outcome.reason == "unknown_answer"
    assert "não sabia" in _handed_over(tenant, ticket, handoff_queue)


def test_negative_sentiment_hands_over_when_enabled(
    tenant, ticket, agent, handoff_queue, ai_settings, fake_openai, knowledge_base
):
    fake_openai.reply({"answer": "Leva 5 dias.", "known": True, "article_ids": [], "sentiment": "negative"})
    outcome = _reply(tenant, ticket, agent, "Essa entrega está um absurdo, que demora!")
    assert outcome.reason == "negative_sentiment"
    assert "insatisfeito" in _handed_over(tenant, ticket, handoff_queue)
    assert '"sentiment"' in fake_openai.chat_requests()[0]["messages"][0]["content"]


def test_negative_sentiment_ignored_when_disabled(
    tenant, ticket, handoff_queue, ai_settings, fake_openai, knowledge_base
):
    agent = AIAgentFactory(tenant=tenant, handoff_queue=handoff_queue, handoff_on_negative_sentiment=False)
    fake_openai.reply({"answer": "Leva 5 dias.", "known": True, "article_ids": [], "sentiment": "negative"})
    assert _reply(tenant, ticket, agent, "Essa entrega demora demais").answered


def test_turn_limit_hands_over(tenant, ticket, agent, handoff_queue, ai_settings, fake_openai, knowledge_base):
    for _turn in range(2):
        fake_openai.reply({"answer": "Leva 5 dias.", "known": True, "article_ids": [], "sentiment": "neutral"})
        assert _reply(tenant, ticket, agent, "Quanto tempo leva a entrega?").answered
    outcome = _reply(tenant, ticket, agent, "E a entrega?")
    assert outcome.reason == "turn_limit"
    assert len(fake_openai.chat_requests()) == 2
    with tenant_context(tenant):
        fresh = Ticket.objects.get(pk=ticket.pk)
        assert (fresh.queue_id, fresh.is_bot) == (handoff_queue.pk, False)


def test_ai_not_configured_hands_over(tenant, ticket, agent, handoff_queue, knowledge_base):
    outcome = _reply(tenant, ticket, agent, "Quanto tempo leva a entrega?")
    assert (outcome.reason, outcome.detail) == ("ai_unavailable", "ai_not_configured")
    assert "ai_not_configured" in _handed_over(tenant, ticket, handoff_queue)


def test_provider_error_hands_over_and_is_metered(
    tenant, ticket, agent, handoff_queue, ai_settings, fake_openai, knowledge_base
):
    fake_openai.fail(status=500, times=5)
    outcome = _reply(tenant, ticket, agent, "Quanto tempo leva a entrega?")
    assert outcome.reason == "ai_unavailable"
    _handed_over(tenant, ticket, handoff_queue)
    with tenant_context(tenant):
        assert AIUsage.objects.get(feature=Feature.BOT_REPLY).succeeded is False


# --- API ---------------------------------------------------------------------------------------


def test_admins_manage_agents_members_read_them(tenant, admin_user, make_member, client_for, handoff_queue):
    admin = client_for(admin_user, tenant)
    response = admin.post(
        "/api/v1/ai/agents/",
        {"name": "Lia", "instructions": "Seja gentil", "knowledge_categories": ["logistica", "Logistica"],
         "queues": [handoff_queue.pk], "handoff_queue": handoff_queue.pk},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["max_bot_turns"] == 5 and body["knowledge_categories"] == ["logistica"]
    assert body["queues"] == [handoff_queue.pk] and body["active"] is True
    agent_member = client_for(make_member(tenant, Role.AGENT), tenant)
    assert agent_member.get("/api/v1/ai/agents/").json()["results"][0]["name"] == "Lia"
    assert agent_member.patch(f"/api/v1/ai/agents/{body['id']}/", {"name": "X"}, format="json").status_code == 403
    assert admin.patch(f"/api/v1/ai/agents/{body['id']}/", {"max_bot_turns": 0}, format="json").status_code == 400
    assert admin.delete(f"/api/v1/ai/agents/{body['id']}/").status_code == 204
    with tenant_context(tenant):
        assert not AIAgent.objects.exists()


def test_another_tenants_queue_is_refused(tenant, admin_user, client_for, other_tenant):
    foreign = QueueFactory(tenant=other_tenant)
    response = client_for(admin_user, tenant).post(
        "/api/v1/ai/agents/", {"name": "Lia", "handoff_queue": foreign.pk}, format="json"
    )
    assert response.status_code == 400
