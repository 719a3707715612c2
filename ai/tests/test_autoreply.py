# ruff: noqa: F401, F811 — fixtures imported for these tests
"""AI agents answering new tickets without a flow, end to end: a signed webhook → routing → the
session's task after commit (Celery eager) → the fake provider with real indexed articles → the
bot's answer or the handoff; business hours; voice notes transcribed as they arrive."""

import pytest
from django.utils import timezone

from ai import services
from ai.models import AIAgent, BotSession, MessageTranscript
from ai.tests.factories import AIAgentFactory, AISettingsFactory
from ai.tests.fakes import TRANSCRIPTIONS, FakeOpenAI
from flows.models import Flow
from flows.tests.conftest import publish
from flows.tests.graphs import graph
from tenants.context import tenant_context
from tickets import services as ticket_services
from tickets.models import Message, Ticket
from tickets.tests.factories import QueueFactory
from whatsapp.management.commands.simulate_inbound import cloud_message_body
from whatsapp.tests.conftest import fake_graph
from whatsapp.tests.inbound_fixtures import cloud_connection, deliver, published

pytestmark = pytest.mark.django_db

CUSTOMER = "5511987650001"
ALWAYS_CLOSED = {"mon": []}  # once a day is given, the days missing are closed: never open
ALWAYS_OPEN = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def ai_on(tenant, ai_on_fake):
    return ai_on_fake(tenant, transcription_model="fake-whisper")


@pytest.fixture
def article(tenant):
    from knowledge import services as knowledge_services

    with tenant_context(tenant):
        return knowledge_services.article_create(
            tenant=tenant, actor=None, title="Prazos de entrega", status="published",
            body="As entregas levam até 5 dias úteis para todo o Brasil.",
        )  # fmt: skip


@pytest.fixture
def humans(tenant):
    return QueueFactory(tenant=tenant, name="Humanos")


@pytest.fixture
def lia(tenant, cloud_connection, humans):
    """Answers the new tickets of the shop's connection; greeting set so routing would send it."""
    cloud_connection.greeting_message = "Olá! Bem-vindo à Loja Centro."
    cloud_connection.save(update_fields=["greeting_message"])
    agent = AIAgentFactory(tenant=tenant, name="Lia", handoff_queue=humans, answers_new_tickets=True)
    with tenant_context(tenant):
        agent.connections.set([cloud_connection])
    return agent


@pytest.fixture
def say(cloud_connection, deliver):
    def _say(text: str = "", *, message: dict | None = None):
        message = message or {"type": "text", "text": {"body": text}}
        body = cloud_message_body(connection=cloud_connection, wa_id=CUSTOMER, name="Maria Souza", message=message)
        deliver(cloud_connection, body)

    return _say


def _ticket(tenant) -> Ticket:
    with tenant_context(tenant):
        return Ticket.objects.select_related("queue").get(contact__wa_id=CUSTOMER)


def _outbound(tenant) -> list[tuple[str, str]]:
    with tenant_context(tenant):
        return list(
            Message.objects.filter(direction=Message.Direction.OUTBOUND)
            .order_by("id")
            .values_list("sender_type", "text")
        )


def _session(tenant) -> BotSession:
    with tenant_context(tenant):
        return BotSession.objects.get()


def _known(fake_openai, article, text="Leva até 5 dias úteis."):
    fake_openai.reply({"answer": text, "known": True, "article_ids": [article.pk], "sentiment": "neutral"})


def test_the_agent_answers_a_new_ticket_first_then_hands_it_to_people(
    tenant, ai_on, article, lia, humans, fake_openai, say
):
    _known(fake_openai, article)
    say("Quanto tempo leva a entrega?")
    # The bot answers instead of the greeting (no queue menu either), with the article cited.
    assert _outbound(tenant) == [("bot", "Leva até 5 dias úteis.")]
    with tenant_context(tenant):
        answer = Message.objects.get(sender_type=Message.SenderType.BOT)
    assert answer.payload == {"ai_agent": lia.pk, "articles": [article.pk]}
    ticket = _ticket(tenant)
    assert (ticket.is_bot, ticket.status, ticket.assignee_id) == (True, Ticket.Status.PENDING, None)
    assert _session(tenant).status == BotSession.Status.ACTIVE

    say("Quero falar com um atendente")
    ticket = _ticket(tenant)
    assert (ticket.is_bot, ticket.status, ticket.queue_id) == (False, Ticket.Status.PENDING, humans.pk)
    session = _session(tenant)
    assert (session.status, session.end_reason) == (BotSession.Status.HANDED_OVER, "person_asked")
    with tenant_context(tenant):
        assert "pediu para falar com uma pessoa" in Message.objects.get(is_internal_note=True).text

    say("Alô?")  # people have it now: the bot does not come back
    assert len(fake_openai.chat_requests()) == 1
    assert [sender for sender, _text in _outbound(tenant)].count("bot") == 1


def test_an_agent_that_does_not_answer_new_tickets_leaves_routing_alone(tenant, ai_on, article, lia, fake_openai, say):
    lia.answers_new_tickets = False
    lia.save()
    say("Quanto tempo leva a entrega?")
    assert _outbound(tenant) == [("system", "Olá! Bem-vindo à Loja Centro.")]
    assert _ticket(tenant).is_bot is False
    assert fake_openai.chat_requests() == []


def test_a_ticket_already_waiting_for_people_gets_no_agent_when_the_customer_writes_again(
    tenant, ai_on, article, lia, fake_openai, say
):
    """Decision (docs/AI.md): like Chatwoot's agent bots and Whaticket's chatbot, the agent takes a
    conversation only as it starts; a customer already waiting in a queue is not handed to a bot."""
    lia.answers_new_tickets = False
    lia.save()
    say("Quanto tempo leva a entrega?")  # routed to people: greeting, waiting in the queue
    lia.answers_new_tickets = True
    lia.save()
    _known(fake_openai, article)
    say("Alguém aí?")
    ticket = _ticket(tenant)
    assert (ticket.is_bot, ticket.status) == (False, Ticket.Status.PENDING)
    assert fake_openai.chat_requests() == []
    assert [sender for sender, _text in _outbound(tenant)] == ["system"]
    with tenant_context(tenant):
        assert not BotSession.objects.exists()


def test_without_ai_configured_nobody_pretends_to_answer(tenant, ai_on, lia, say):
    ai_on.enabled = False
    ai_on.save()
    say("Quanto tempo leva a entrega?")
    assert _outbound(tenant) == [("system", "Olá! Bem-vindo à Loja Centro.")]
    with tenant_context(tenant):
        assert not BotSession.objects.exists()


def test_a_flow_that_triggers_comes_first(tenant, ai_on, article, lia, fake_openai, say, publish):
    publish(
        graph(("start", "start", {}), ("hi", "send_message", {"text": "Oi do fluxo!"}), edges=[("start", "hi")]),
        trigger_type=Flow.Trigger.NEW_TICKET,
        trigger_config={},
    )
    say("Quanto tempo leva a entrega?")
    assert _outbound(tenant) == [("bot", "Oi do fluxo!")]
    assert fake_openai.chat_requests() == []
    with tenant_context(tenant):
        assert not BotSession.objects.exists()


def test_each_message_is_answered_once_however_often_the_task_runs(tenant, ai_on, article, lia, fake_openai, say):
    _known(fake_openai, article)
    say("Quanto tempo leva a entrega?")
    session = _session(tenant)
    with tenant_context(tenant):
        for _ in range(3):
            services.bot_session_advance(session_id=session.pk)
        ticket = Ticket.objects.get(pk=session.ticket_id)
        assert services.bot_session_continue(ticket=ticket) is True  # a redelivered task changes nothing
    assert _outbound(tenant) == [("bot", "Leva até 5 dias úteis.")]
    assert len(fake_openai.chat_requests()) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_message_give_one_answer(tenant, ai_on, article, lia, fake_openai, say):
    """Two workers advance the same session at the same moment on their own connections: the
    session row's lock makes the second wait, then find the message answered."""
    import threading

    from django.db import connection

    _known(fake_openai, article)
    say("Quanto tempo leva a entrega?")
    session = _session(tenant)
    with tenant_context(tenant):  # as if the first answer had not been given yet
        BotSession.objects.filter(pk=session.pk).update(last_message_id=0)
        Message.objects.filter(sender_type=Message.SenderType.BOT).delete()
    _known(fake_openai, article, "Resposta única.")
    barrier = threading.Barrier(2)

    def work():
        try:
            barrier.wait()
            with tenant_context(tenant):
                services.bot_session_advance(session_id=session.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _outbound(tenant) == [("bot", "Resposta única.")]


def test_accepting_the_ticket_stops_the_bot(
    tenant, ai_on, article, lia, fake_openai, say, agent_user, django_capture_on_commit_callbacks
):
    _known(fake_openai, article)
    say("Quanto tempo leva a entrega?")
    with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
        ticket_services.ticket_accept(ticket=_ticket(tenant), actor=agent_user)
    session = _session(tenant)
    assert (session.status, session.end_reason) == (BotSession.Status.TAKEN_OVER, "bot_stopped")
    say("E o frete?")
    assert len(fake_openai.chat_requests()) == 1
    assert [sender for sender, _text in _outbound(tenant)] == ["bot"]


def test_an_agent_reply_stops_the_bot_at_once(
    tenant, ai_on, article, lia, fake_openai, say, admin_user, django_capture_on_commit_callbacks
):
    _known(fake_openai, article)
    say("Quanto tempo leva a entrega?")
    with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
        ticket_services.message_send(ticket=_ticket(tenant), author=admin_user, text="Oi, sou a Ana")
    assert _ticket(tenant).is_bot is False
    assert _session(tenant).status == BotSession.Status.TAKEN_OVER
    say("Oi Ana!")
    assert len(fake_openai.chat_requests()) == 1


def test_a_person_taking_the_ticket_while_the_bot_thinks_gets_no_bot_answer(
    tenant, ai_on, article, lia, fake_openai, say, monkeypatch
):
    _known(fake_openai, article)
    _known(fake_openai, article, "Não deveria sair.")
    say("Quanto tempo leva a entrega?")
    with tenant_context(tenant):
        ticket = _ticket(tenant)
        Message.objects.create(
            tenant=tenant, ticket=ticket, connection=ticket.connection, direction=Message.Direction.INBOUND,
            sender_type=Message.SenderType.CONTACT, text="E o frete?", sent_at=timezone.now(),
        )  # fmt: skip
        session = BotSession.objects.get()
        # The agent's accept lands between the decision and the send: the ticket changes under
        # the worker, which checks again under the ticket's lock.
        original = services.bot_decide

        def decide_then_taken(**kwargs):
            outcome = original(**kwargs)
            Ticket.objects.filter(pk=ticket.pk).update(is_bot=False)
            return outcome

        monkeypatch.setattr(services, "bot_decide", decide_then_taken)
        services.bot_session_advance(session_id=session.pk)
    assert [text for _sender, text in _outbound(tenant)] == ["Leva até 5 dias úteis."]
    assert _session(tenant).status == BotSession.Status.TAKEN_OVER


# --- business hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "schedule", "answers"),
    [
        (AIAgent.Hours.ALWAYS, ALWAYS_OPEN, True),
        (AIAgent.Hours.ALWAYS, ALWAYS_CLOSED, True),
        (AIAgent.Hours.OUTSIDE, ALWAYS_CLOSED, True),
        (AIAgent.Hours.OUTSIDE, ALWAYS_OPEN, False),
        (AIAgent.Hours.INSIDE, ALWAYS_OPEN, True),
        (AIAgent.Hours.INSIDE, ALWAYS_CLOSED, False),
    ],
)
def test_business_hours_behaviour(tenant, ai_on, article, lia, fake_openai, say, behaviour, schedule, answers):
    tenant.business_hours = schedule
    tenant.save(update_fields=["business_hours"])
    lia.business_hours = behaviour
    lia.save()
    _known(fake_openai, article)
    say("Quanto tempo leva a entrega?")
    senders = [sender for sender, _text in _outbound(tenant)]
    assert senders == (["bot"] if answers else ["system"])  # else the greeting, as without agents
    assert _ticket(tenant).is_bot is answers


def test_the_queue_hours_count_before_the_workspace_hours(
    tenant, ai_on, article, lia, fake_openai, say, cloud_connection
):
    tenant.business_hours = ALWAYS_OPEN
    tenant.save(update_fields=["business_hours"])
    cloud_connection.default_queue = QueueFactory(tenant=tenant, name="Noite", business_hours=ALWAYS_CLOSED)
    cloud_connection.save(update_fields=["default_queue"])
    lia.business_hours = AIAgent.Hours.OUTSIDE
    lia.save()
    _known(fake_openai, article)
    say("Quanto tempo leva a entrega?")
    assert [sender for sender, _text in _outbound(tenant)] == ["bot"]


def test_an_agent_answering_outside_hours_hands_over_when_the_hours_start(
    tenant, ai_on, article, lia, fake_openai, say, humans
):
    tenant.business_hours = ALWAYS_CLOSED
    tenant.save(update_fields=["business_hours"])
    lia.business_hours = AIAgent.Hours.OUTSIDE
    lia.save()
    _known(fake_openai, article)
    say("Quanto tempo leva a entrega?")
    tenant.business_hours = ALWAYS_OPEN  # the shop opens
    tenant.save(update_fields=["business_hours"])
    say("E o frete?")
    session = _session(tenant)
    assert (session.status, session.end_reason) == (BotSession.Status.HANDED_OVER, "business_hours")
    ticket = _ticket(tenant)
    assert (ticket.is_bot, ticket.queue_id) == (False, humans.pk)
    assert len(fake_openai.chat_requests()) == 1


# --- voice notes ---------------------------------------------------------------------------------------

VOICE = {"type": "audio", "audio": {"id": "4059687123456789", "mime_type": "audio/ogg; codecs=opus", "voice": True}}


@pytest.fixture
def voice_note(fake_graph):
    fake_graph.add_media("4059687123456789", b"OggS\x00fake-opus-bytes", "audio/ogg")


def _voice_message(tenant) -> Message:
    with tenant_context(tenant):
        return Message.objects.select_related("ai_transcript").get(type__in=["audio", "voice"])


def test_a_voice_note_is_transcribed_as_it_arrives_and_shown_at_once(
    tenant, ai_on, cloud_connection, fake_openai, voice_note, say, published
):
    fake_openai.transcript("Meu pedido não chegou ainda")
    say(message=VOICE)
    message = _voice_message(tenant)
    assert message.ai_transcript.text == "Meu pedido não chegou ainda"
    assert message.ai_transcript.model == "fake-whisper"
    request = fake_openai.requests_to("POST", TRANSCRIPTIONS)[0]
    assert b"fake-opus-bytes" in request.body
    updates = [data for _groups, kind, data in published if kind == "message.updated" and data["id"] == message.pk]
    assert len(updates) == 2  # the download, then the transcript
    with tenant_context(tenant):
        from ai.models import AIUsage

        usage = AIUsage.objects.get(feature="transcribe")
    assert (usage.user_id, usage.ticket_id) == (None, message.ticket_id)


def test_without_the_opt_in_voice_notes_wait_for_the_button(tenant, ai_on, cloud_connection, voice_note, say):
    ai_on.auto_transcribe = False
    ai_on.save()
    say(message=VOICE)
    message = _voice_message(tenant)
    assert message.media_status == Message.MediaStatus.READY
    with tenant_context(tenant):
        assert not MessageTranscript.objects.exists()


def test_the_bot_reads_a_voice_note_as_the_customers_words(tenant, ai_on, article, lia, fake_openai, voice_note, say):
    fake_openai.transcript("Quanto tempo leva a entrega?")
    _known(fake_openai, article)
    say(message=VOICE)
    assert _outbound(tenant) == [("bot", "Leva até 5 dias úteis.")]
    prompt = fake_openai.chat_requests()[0]["messages"][-1]["content"]
    assert "(voice note) Quanto tempo leva a entrega?" in prompt


def test_a_voice_note_the_bot_cannot_read_goes_to_people(
    tenant, ai_on, article, lia, humans, fake_openai, voice_note, say
):
    fake_openai.fail(TRANSCRIPTIONS, status=400)
    say(message=VOICE)
    assert fake_openai.chat_requests() == []
    session = _session(tenant)
    assert (session.status, session.end_reason) == (BotSession.Status.HANDED_OVER, "voice_note")
    assert (_ticket(tenant).is_bot, _ticket(tenant).queue_id) == (False, humans.pk)
    with tenant_context(tenant):
        assert "mensagem de voz" in Message.objects.get(is_internal_note=True).text
        assert not MessageTranscript.objects.exists()


def test_without_transcription_the_bot_hands_a_voice_note_over_at_once(
    tenant, ai_on, article, lia, humans, fake_openai, voice_note, say
):
    ai_on.auto_transcribe = False
    ai_on.save()
    say(message=VOICE)
    assert _session(tenant).end_reason == "voice_note"
    assert fake_openai.requests_to("POST", TRANSCRIPTIONS) == []


# --- settings through the API ----------------------------------------------------------------------


def test_the_api_sets_the_new_ticket_and_hours_behaviour(tenant, admin_user, client_for):
    admin = client_for(admin_user, tenant)
    response = admin.post(
        "/api/v1/ai/agents/", {"name": "Noturna", "answers_new_tickets": True, "business_hours": "outside"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["answers_new_tickets"], body["business_hours"]) == (True, "outside")
    refused = admin.patch(f"/api/v1/ai/agents/{body['id']}/", {"business_hours": "sometimes"}, format="json")
    assert refused.status_code == 400 and "business_hours" in refused.json()["fields"]
    created = admin.post("/api/v1/ai/agents/", {"name": "Padrão"}, format="json").json()
    assert (created["answers_new_tickets"], created["business_hours"]) == (False, "always")


def test_the_api_switches_automatic_transcription(tenant, admin_user, client_for, fake_openai, settings):
    settings.AI_ALLOW_PRIVATE_PROVIDER_URLS = True
    admin = client_for(admin_user, tenant)
    settings_body = {"base_url": fake_openai.base_url, "chat_model": "fake-chat", "transcription_model": "w"}
    assert admin.put("/api/v1/ai/settings", settings_body, format="json").json()["auto_transcribe"] is True
    response = admin.put("/api/v1/ai/settings", {**settings_body, "auto_transcribe": False}, format="json")
    assert response.status_code == 200 and response.json()["auto_transcribe"] is False
