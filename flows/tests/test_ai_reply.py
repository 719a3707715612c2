"""The flows' AI reply node end to end: a signed webhook → the flow → the AI agent (fake provider,
real indexed articles) → the bot's answer, then a handoff when the customer asks for a person."""

import pytest

from ai.tests.factories import AIAgentFactory
from flows.models import Flow, FlowRun, FlowTrace
from flows.tests.graphs import graph
from tenants.context import tenant_context
from tickets.models import Message, Ticket
from tickets.tests.factories import QueueFactory

pytestmark = pytest.mark.django_db

ON_DELIVERY = {"keywords": ["entrega"], "match": "contains"}


@pytest.fixture
def bot(tenant, ai_on_fake):
    from knowledge import services as knowledge_services

    ai_on_fake(tenant)
    with tenant_context(tenant):
        article = knowledge_services.article_create(
            tenant=tenant, actor=None, title="Prazos de entrega", status="published",
            body="As entregas levam até 5 dias úteis para todo o Brasil.",
        )  # fmt: skip
    queue = QueueFactory(tenant=tenant, name="Humanos")
    agent = AIAgentFactory(tenant=tenant, name="Lia", handoff_queue=queue)
    return {"agent": agent, "article": article, "queue": queue}


def test_the_node_answers_from_the_knowledge_base_then_hands_over(
    say, publish, bot, fake_openai, the_run, the_ticket, tenant
):
    publish(
        graph(("start", "start", {}), ("ai", "ai_reply", {"agent_id": bot["agent"].pk}), edges=[("start", "ai")]),
        trigger_type=Flow.Trigger.KEYWORD,
        trigger_config=ON_DELIVERY,
    )
    article = bot["article"]
    fake_openai.reply(
        {"answer": "Até 5 dias úteis.", "known": True, "article_ids": [article.pk], "sentiment": "neutral"}
    )
    say("Quanto tempo leva a entrega?")
    run = the_run()
    assert (run.status, run.awaiting, run.current_node) == (FlowRun.Status.WAITING, FlowRun.Awaiting.INPUT, "ai")
    with tenant_context(tenant):
        answer = Message.objects.get(sender_type=Message.SenderType.BOT)
    assert answer.text == "Até 5 dias úteis." and answer.payload["articles"] == [article.pk]
    assert the_ticket().is_bot is True

    say("Quero falar com um atendente")
    run = the_run()
    assert run.status == FlowRun.Status.HANDED_OVER
    ticket = the_ticket()
    assert (ticket.status, ticket.queue_id, ticket.is_bot) == (Ticket.Status.PENDING, bot["queue"].pk, False)
    assert len(fake_openai.chat_requests()) == 1  # the request for a person needs no model
    with tenant_context(tenant):
        assert FlowTrace.objects.filter(run=run, node_type="ai_reply", output__reason="person_asked").exists()
        assert "pediu para falar com uma pessoa" in Message.objects.get(is_internal_note=True).text


def test_without_a_named_agent_the_connections_agent_answers(
    say, publish, bot, fake_openai, the_run, tenant, cloud_connection
):
    with tenant_context(tenant):
        other = AIAgentFactory(tenant=tenant, name="Outra")
        other.connections.set([cloud_connection])
    publish(
        graph(("start", "start", {}), ("ai", "ai_reply", {}), edges=[("start", "ai")]),
        trigger_type=Flow.Trigger.KEYWORD,
        trigger_config=ON_DELIVERY,
    )
    fake_openai.reply({"answer": "Até 5 dias úteis.", "known": True, "article_ids": [], "sentiment": "neutral"})
    say("Quanto tempo leva a entrega?")
    with tenant_context(tenant):
        assert Message.objects.get(sender_type=Message.SenderType.BOT).payload["ai_agent"] == other.pk
    assert the_run().status == FlowRun.Status.WAITING
