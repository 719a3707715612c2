"""Agent assist through /api/v1/ai/, with the real openai client talking to the fake provider."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import Role
from ai.models import AIUsage, DealQualification, MessageTranscript, TicketInsight
from ai.tests.factories import AISettingsFactory, AIUsageFactory, TicketInsightFactory
from ai.tests.fakes import CHAT, TRANSCRIPTIONS, multipart_fields
from crm.models import Deal
from crm.tests.factories import ContactFactory, DealActivityFactory, DealFactory
from tenants.context import tenant_context
from tickets.models import Message, Ticket
from tickets.tests.factories import MessageFactory, QueueFactory, TicketFactory

pytestmark = pytest.mark.django_db


def _at(minutes: int):
    return timezone.now() - timedelta(minutes=60 - minutes)


@pytest.fixture
def ticket(tenant):
    ticket = TicketFactory(tenant=tenant, contact=ContactFactory(tenant=tenant, name="Maria Souza"))
    MessageFactory(tenant=tenant, ticket=ticket, text="Meu pedido 1234 não chegou", sent_at=_at(1))
    MessageFactory(
        tenant=tenant, ticket=ticket, direction=Message.Direction.OUTBOUND, sender_type=Message.SenderType.AGENT,
        text="Vou verificar com a transportadora", sent_at=_at(2), provider_message_id="wamid.OUT1",
    )  # fmt: skip
    MessageFactory(tenant=tenant, ticket=ticket, text="Estou muito chateada, é a segunda vez", sent_at=_at(3))
    return ticket


@pytest.fixture
def admin_client(admin_user, tenant, client_for):
    return client_for(admin_user, tenant)


def _usage(tenant):
    with tenant_context(tenant):
        return list(AIUsage.objects.order_by("id").values("feature", "model", "prompt_tokens", "completion_tokens",
                                                          "succeeded", "error_code", "ticket_id"))  # fmt: skip


# --- Not configured -------------------------------------------------------------------------


FEATURE_ROUTES = [
    ("summarize", lambda objs: f"/api/v1/ai/tickets/{objs['ticket'].pk}/summarize", {}),
    ("classify", lambda objs: f"/api/v1/ai/tickets/{objs['ticket'].pk}/classify", {}),
    ("suggest", lambda objs: f"/api/v1/ai/tickets/{objs['ticket'].pk}/suggest-replies", {}),
    ("transcribe", lambda objs: f"/api/v1/ai/messages/{objs['message'].pk}/transcribe", {}),
    ("qualify", lambda objs: f"/api/v1/ai/deals/{objs['deal'].pk}/qualify", {}),
    ("compose", lambda objs: "/api/v1/ai/compose", {"text": "oi", "action": "formal"}),
    ("connection_test", lambda objs: "/api/v1/ai/settings/test", {}),
    ("optimize", lambda objs: "/api/v1/knowledge/proposals/optimize", {}),
]


@pytest.mark.parametrize("state", ["missing", "disabled"])
@pytest.mark.parametrize(("name", "url_of", "body"), FEATURE_ROUTES, ids=[r[0] for r in FEATURE_ROUTES])
def test_every_feature_answers_409_when_ai_is_not_configured(
    admin_client, tenant, ticket, fake_openai, state, name, url_of, body
):
    if state == "disabled":
        AISettingsFactory(tenant=tenant, base_url=fake_openai.base_url, api_key=fake_openai.api_key, enabled=False)
    objects = {
        "ticket": ticket,
        "message": Message.all_tenants.filter(ticket=ticket).first(),
        "deal": DealFactory(tenant=tenant),
    }
    response = admin_client.post(url_of(objects), body, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "ai_not_configured"
    assert fake_openai.requests == []
    assert _usage(tenant) == []


# --- Summarize and classify -------------------------------------------------------------------


def test_summarize_stores_the_summary_and_meters_the_call(
    admin_client, admin_user, tenant, ticket, ai_settings, fake_openai
):
    fake_openai.reply("- Pedido 1234 atrasado\n- Agente verificando", prompt_tokens=321, completion_tokens=17)
    response = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize")
    assert response.status_code == 200, response.content
    assert response.json()["summary"] == "- Pedido 1234 atrasado\n- Agente verificando"
    with tenant_context(tenant):
        insight = TicketInsight.objects.get(ticket=ticket)
    assert insight.summary == "- Pedido 1234 atrasado\n- Agente verificando"
    assert insight.summarized_at is not None
    (sent,) = fake_openai.chat_requests()
    assert sent["model"] == "fake-chat"
    conversation = sent["messages"][1]["content"]
    assert "Customer: Meu pedido 1234 não chegou" in conversation
    assert "Agent" in conversation and "Vou verificar com a transportadora" in conversation
    assert conversation.index("não chegou") < conversation.index("segunda vez")  # oldest first
    assert "Brazilian Portuguese" in sent["messages"][0]["content"]  # the tenant's language
    assert _usage(tenant) == [
        {"feature": "summarize", "model": "fake-chat", "prompt_tokens": 321, "completion_tokens": 17,
         "succeeded": True, "error_code": "", "ticket_id": ticket.pk}
    ]  # fmt: skip
    usage = AIUsage.all_tenants.get(tenant=tenant)
    assert usage.user_id == admin_user.pk
    assert usage.latency_ms is not None and usage.latency_ms >= 0


def test_a_ticket_without_messages_is_refused_before_calling(admin_client, tenant, ai_settings, fake_openai):
    empty = TicketFactory(tenant=tenant)
    response = admin_client.post(f"/api/v1/ai/tickets/{empty.pk}/summarize")
    assert (response.status_code, response.json()["code"]) == (409, "ai_nothing_to_process")
    assert fake_openai.requests == []


def test_classify_stores_sentiment_and_a_tenant_category(admin_client, tenant, ticket, ai_settings, fake_openai):
    fake_openai.reply('Here you go:\n```json\n{"sentiment": "Negative", "category": "delivery"}\n```')
    response = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/classify")
    assert response.status_code == 200, response.content
    assert (response.json()["sentiment"], response.json()["category"]) == ("negative", "Delivery")
    system = fake_openai.chat_requests()[0]["messages"][0]["content"]
    assert '["Billing", "Delivery", "Returns"]' in system


def test_a_category_the_tenant_did_not_define_is_dropped(admin_client, ticket, ai_settings, fake_openai):
    fake_openai.reply({"sentiment": "neutral", "category": "Astrology"})
    response = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/classify")
    assert (response.json()["sentiment"], response.json()["category"]) == ("neutral", "")


def test_an_answer_that_is_not_the_asked_json_is_a_502_and_stores_nothing(
    admin_client, tenant, ticket, ai_settings, fake_openai
):
    fake_openai.reply("I think the customer is upset.")
    response = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/classify")
    assert (response.status_code, response.json()["code"]) == (502, "ai_bad_response")
    with tenant_context(tenant):
        assert not TicketInsight.objects.exists()
    assert [row["succeeded"] for row in _usage(tenant)] == [True]  # the tokens were spent


def test_insights_are_filterable_by_sentiment_and_category(admin_client, tenant, ai_settings):
    negative = TicketInsightFactory(tenant=tenant, sentiment="negative", category="Delivery")
    TicketInsightFactory(tenant=tenant, sentiment="positive", category="Billing")
    TicketInsightFactory(tenant=tenant, sentiment="negative", category="Billing")
    response = admin_client.get("/api/v1/ai/insights", {"sentiment": "negative", "category": "delivery"})
    assert response.status_code == 200
    assert [item["ticket"] for item in response.json()["results"]] == [negative.ticket_id]
    assert admin_client.get("/api/v1/ai/insights", {"sentiment": "negative"}).json()["count"] == 2


# --- Who may call ------------------------------------------------------------------------------


def test_an_agent_cannot_use_the_ai_on_a_ticket_they_cannot_see(
    agent_user, tenant, client_for, ticket, ai_settings, fake_openai
):
    Ticket.all_tenants.filter(pk=ticket.pk).update(queue=QueueFactory(tenant=tenant))  # a queue they are not in
    client = client_for(agent_user, tenant)
    for action in ("summarize", "classify", "suggest-replies"):
        response = client.post(f"/api/v1/ai/tickets/{ticket.pk}/{action}")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    message = Message.all_tenants.filter(ticket=ticket).first()
    assert client.post(f"/api/v1/ai/messages/{message.pk}/transcribe").status_code == 404
    assert client.get("/api/v1/ai/insights").json()["count"] == 0
    assert fake_openai.requests == []


def test_an_agent_uses_the_ai_on_a_ticket_they_can_see(
    agent_user, tenant, client_for, ticket, ai_settings, fake_openai
):
    fake_openai.reply("- resumo")
    response = client_for(agent_user, tenant).post(f"/api/v1/ai/tickets/{ticket.pk}/summarize")
    assert response.status_code == 200, response.content
    assert _usage(tenant)[0]["feature"] == "summarize"


def test_anonymous_callers_are_refused(api_client, ticket):
    assert api_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize").status_code == 401


# --- Limits and failures -----------------------------------------------------------------------


def test_the_per_member_rate_limit_answers_429(admin_client, tenant, ticket, ai_settings, fake_openai, settings):
    settings.AI_USER_RATE_PER_MINUTE = 2
    for _ in range(2):
        assert admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize").status_code == 200
    refused = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize")
    assert (refused.status_code, refused.json()["code"]) == (429, "ai_rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert len(fake_openai.requests) == 2
    assert len(_usage(tenant)) == 2


def test_the_rate_limit_is_per_member(
    admin_client, supervisor_user, tenant, client_for, ticket, ai_settings, fake_openai, settings
):
    settings.AI_USER_RATE_PER_MINUTE = 1
    assert admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize").status_code == 200
    assert admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize").status_code == 429
    assert client_for(supervisor_user, tenant).post(f"/api/v1/ai/tickets/{ticket.pk}/summarize").status_code == 200


def test_the_monthly_cap_of_the_plan_answers_429(admin_client, tenant, ticket, ai_settings, fake_openai):
    tenant.max_ai_requests_per_month = 2
    tenant.save()
    AIUsageFactory(tenant=tenant)
    AIUsageFactory(tenant=tenant, succeeded=False, error_code="ai_provider_error")  # failures do not count
    last_month = AIUsageFactory(tenant=tenant)
    AIUsage.all_tenants.filter(pk=last_month.pk).update(created_at=timezone.now() - timedelta(days=40))
    assert admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize").status_code == 200
    refused = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize")
    assert (refused.status_code, refused.json()["code"]) == (429, "ai_quota_exceeded")
    assert len(fake_openai.requests) == 1


def test_provider_errors_are_retried_then_reported_and_metered(
    admin_client, tenant, ticket, ai_settings, fake_openai, settings
):
    settings.AI_MAX_RETRIES = 2
    fake_openai.fail(status=500, times=3)
    response = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize")
    assert (response.status_code, response.json()["code"]) == (502, "ai_provider_error")
    assert len(fake_openai.requests_to("POST", CHAT)) == 3
    assert [(row["succeeded"], row["error_code"]) for row in _usage(tenant)] == [(False, "ai_provider_error")]
    with tenant_context(tenant):
        assert not TicketInsight.objects.exists()


def test_a_provider_that_answers_after_a_retry_works(admin_client, ticket, ai_settings, fake_openai):
    fake_openai.fail(status=429, times=1)
    fake_openai.reply("- ok")
    response = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize")
    assert (response.status_code, response.json()["summary"]) == (200, "- ok")


def test_a_slow_provider_is_a_504(admin_client, tenant, ticket, ai_settings, fake_openai, settings):
    settings.AI_MAX_RETRIES = 0
    ai_settings.timeout_seconds = 1
    AISettingsFactory._meta.model.all_tenants.filter(pk=ai_settings.pk).update(timeout_seconds=1)
    fake_openai.fail(status=200, delay=3)
    response = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/summarize")
    assert (response.status_code, response.json()["code"]) == (504, "ai_provider_timeout")
    assert _usage(tenant)[0]["error_code"] == "ai_provider_timeout"


# --- Compose ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "target", "expected"),
    [
        ("formal", None, "more formal"),
        ("friendly", None, "friendlier"),
        ("shorter", None, "shorter"),
        ("fix_grammar", None, "Fix spelling"),
        ("translate", "en", "Translate the text into English"),
        ("translate", "es", "Translate the text into Spanish"),
        ("translate", "pt-br", "Translate the text into Brazilian Portuguese"),
    ],
)
def test_compose_rewrites_the_draft(admin_client, tenant, ai_settings, fake_openai, action, target, expected):
    fake_openai.reply("  Prezado cliente, seu pedido foi enviado.  ")
    body = {"text": "oi, seu pedido foi", "action": action, "target_language": target}
    response = admin_client.post("/api/v1/ai/compose", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"text": "Prezado cliente, seu pedido foi enviado."}
    (sent,) = fake_openai.chat_requests()
    assert expected in sent["messages"][0]["content"]
    assert sent["messages"][1] == {"role": "user", "content": "oi, seu pedido foi"}
    assert _usage(tenant)[0]["feature"] == "compose"


def test_translate_needs_a_target_language(admin_client, ai_settings, fake_openai):
    response = admin_client.post("/api/v1/ai/compose", {"text": "oi", "action": "translate"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert "target_language" in response.json()["fields"]
    assert fake_openai.requests == []


# --- Suggest replies ------------------------------------------------------------------------


@pytest.fixture
def knowledge_base(tenant):
    """Two published articles (through knowledge.services, so they are indexed) and a draft."""
    from knowledge import services as knowledge_services

    articles = {}
    with tenant_context(tenant):
        for title, body, status in [
            ("Prazos de entrega", "Se o seu pedido não chegou: as entregas levam até 5 dias úteis.", "published"),
            ("Troca de tamanho", "Trocas de roupas e calçados em até 30 dias.", "published"),
            ("Pedido atrasado (rascunho)", "Pedido que não chegou: reenvio grátis.", "draft"),
        ]:
            articles[title] = knowledge_services.article_create(
                tenant=tenant, actor=None, title=title, body=body, status=status
            )
    return articles


def test_suggest_replies_grounds_on_the_knowledge_base(admin_client, ticket, ai_settings, fake_openai, knowledge_base):
    fake_openai.reply({"replies": ["Resposta 1", "Resposta 2", "Resposta 3", "Resposta 4"]})
    response = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/suggest-replies")
    assert response.status_code == 200, response.content
    delivery = knowledge_base["Prazos de entrega"]
    assert response.json() == {
        "replies": ["Resposta 1", "Resposta 2", "Resposta 3"],
        "articles": [{"id": delivery.pk, "title": "Prazos de entrega"}],  # the draft is never used
    }
    system = fake_openai.chat_requests()[0]["messages"][0]["content"]
    assert f"[Article {delivery.pk}] Prazos de entrega" in system and "5 dias úteis" in system
    assert "reenvio grátis" not in system


def test_suggest_replies_without_a_matching_article(admin_client, ticket, ai_settings, fake_openai):
    fake_openai.reply({"replies": ["A", "B", "C"]})
    response = admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/suggest-replies")
    assert response.json() == {"replies": ["A", "B", "C"], "articles": []}
    assert "never invent prices" in fake_openai.chat_requests()[0]["messages"][0]["content"]


def test_internal_notes_stay_out_of_suggested_replies(admin_client, tenant, ticket, ai_settings, fake_openai):
    MessageFactory(
        tenant=tenant, ticket=ticket, direction=Message.Direction.OUTBOUND, sender_type=Message.SenderType.AGENT,
        is_internal_note=True, text="Cliente difícil, cuidado", provider_message_id="",
    )  # fmt: skip
    fake_openai.reply({"replies": ["A", "B", "C"]})
    admin_client.post(f"/api/v1/ai/tickets/{ticket.pk}/suggest-replies")
    assert "Cliente difícil" not in fake_openai.chat_requests()[0]["messages"][1]["content"]


# --- Transcribe ------------------------------------------------------------------------------


@pytest.fixture
def voice_note(tenant, ticket, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    message = MessageFactory(
        tenant=tenant, ticket=ticket, type="voice", text="", media_status=Message.MediaStatus.READY,
        media_mime="audio/ogg; codecs=opus", media_filename="voice.ogg",
    )  # fmt: skip
    message.media_file.save("voice.ogg", ContentFile(b"OggS\x00fake-opus-audio"), save=False)
    Message.all_tenants.filter(pk=message.pk).update(media_file=message.media_file.name)
    return message


def test_transcribe_stores_the_text_with_the_message(admin_client, tenant, voice_note, ai_settings, fake_openai):
    fake_openai.transcript("Quero trocar o tamanho do tênis")
    response = admin_client.post(f"/api/v1/ai/messages/{voice_note.pk}/transcribe")
    assert response.status_code == 200, response.content
    assert response.json()["text"] == "Quero trocar o tamanho do tênis"
    (request,) = fake_openai.requests_to("POST", TRANSCRIPTIONS)
    fields = multipart_fields(request)
    assert (fields["file"], fields["model"], fields["language"]) == (b"OggS\x00fake-opus-audio", b"fake-whisper", b"pt")
    with tenant_context(tenant):
        assert MessageTranscript.objects.get(message=voice_note).text == "Quero trocar o tamanho do tênis"
    assert _usage(tenant)[0]["feature"] == "transcribe"
    # The transcript is what later prompts read for the voice note.
    fake_openai.reply("- troca de tamanho")
    admin_client.post(f"/api/v1/ai/tickets/{voice_note.ticket_id}/summarize")
    assert "(voice note) Quero trocar o tamanho do tênis" in fake_openai.chat_requests()[0]["messages"][1]["content"]


def test_only_audio_is_transcribed(admin_client, ticket, ai_settings, fake_openai):
    response = admin_client.post(
        f"/api/v1/ai/messages/{Message.all_tenants.filter(ticket=ticket).first().pk}/transcribe"
    )
    assert (response.status_code, response.json()["code"]) == (409, "ai_not_audio")
    assert fake_openai.requests == []


def test_transcription_needs_its_model(admin_client, tenant, voice_note, ai_settings, fake_openai):
    type(ai_settings).all_tenants.filter(pk=ai_settings.pk).update(transcription_model="")
    response = admin_client.post(f"/api/v1/ai/messages/{voice_note.pk}/transcribe")
    assert (response.status_code, response.json()["code"]) == (409, "ai_feature_not_configured")
    assert fake_openai.requests == []


# --- BANT -------------------------------------------------------------------------------------


def test_qualify_fills_bant_with_quoted_evidence(admin_client, tenant, ai_settings, fake_openai):
    contact = ContactFactory(tenant=tenant, name="João Lima")
    ticket = TicketFactory(tenant=tenant, contact=contact)
    MessageFactory(tenant=tenant, ticket=ticket, text="Temos uns R$ 5.000,00 por mês para isso", sent_at=_at(1))
    MessageFactory(tenant=tenant, ticket=ticket, text="Quem decide é a nossa diretora, a Ana", sent_at=_at(2))
    deal = DealFactory(tenant=tenant, contact=contact, timeline="next year")
    DealActivityFactory(tenant=tenant, deal=deal, text="Precisam de um CRM integrado ao WhatsApp")
    fake_openai.reply(
        {
            "budget": {"value": "R$ 5.000,00", "quote": "Temos uns R$ 5.000,00 por mês"},
            "authority": {"value": "Ana, the director", "quote": "quem decide é a nossa   diretora"},
            "need": {"value": "A CRM integrated with WhatsApp", "quote": "CRM integrado ao WhatsApp"},
            # Invented: these words are nowhere in the conversation, so the field is left alone.
            "timeline": {"value": "This month", "quote": "we sign this month"},
        }
    )
    response = admin_client.post(f"/api/v1/ai/deals/{deal.pk}/qualify")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["budget"], body["authority"], body["need"], body["timeline"]) == (
        "5000.00", "Ana, the director", "A CRM integrated with WhatsApp", "next year",
    )  # fmt: skip
    assert set(body["evidence"]) == {"budget", "authority", "need"}
    assert body["evidence"]["budget"] == {"value": "5000.00", "quote": "Temos uns R$ 5.000,00 por mês"}
    with tenant_context(tenant):
        deal = Deal.objects.get(pk=deal.pk)
        assert deal.budget == Decimal("5000.00")
        assert DealQualification.objects.get(deal=deal).evidence["need"]["quote"] == "CRM integrado ao WhatsApp"
    conversation = fake_openai.chat_requests()[0]["messages"][1]["content"]
    assert "R$ 5.000,00" in conversation and "Precisam de um CRM" in conversation


def test_qualify_without_any_conversation_is_refused(admin_client, tenant, ai_settings, fake_openai):
    deal = DealFactory(tenant=tenant, contact=None)
    response = admin_client.post(f"/api/v1/ai/deals/{deal.pk}/qualify")
    assert (response.status_code, response.json()["code"]) == (409, "ai_nothing_to_process")
    assert fake_openai.requests == []


# --- Usage and settings ------------------------------------------------------------------------


def test_usage_reports_this_month_per_feature(admin_client, tenant, other_tenant, ai_settings):
    tenant.max_ai_requests_per_month = 10
    tenant.save()
    AIUsageFactory(tenant=tenant, feature="summarize", prompt_tokens=100, completion_tokens=10)
    AIUsageFactory(tenant=tenant, feature="summarize", prompt_tokens=50, completion_tokens=5)
    AIUsageFactory(tenant=tenant, feature="compose", prompt_tokens=7, completion_tokens=3)
    AIUsageFactory(tenant=tenant, feature="compose", succeeded=False, error_code="ai_provider_error")
    AIUsageFactory(tenant=other_tenant, feature="compose")
    old = AIUsageFactory(tenant=tenant, feature="compose")
    AIUsage.all_tenants.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    body = admin_client.get("/api/v1/ai/usage").json()
    assert {key: body[key] for key in ("configured", "limit", "used", "remaining", "rate_limit_per_minute")} == {
        "configured": True, "limit": 10, "used": 3, "remaining": 7, "rate_limit_per_minute": 20,
    }  # fmt: skip
    assert body["month"] == timezone.now().strftime("%Y-%m")
    assert (body["prompt_tokens"], body["completion_tokens"]) == (257, 38)
    assert body["by_feature"] == [
        {"feature": "compose", "requests": 1, "failed": 1, "prompt_tokens": 107, "completion_tokens": 23},
        {"feature": "summarize", "requests": 2, "failed": 0, "prompt_tokens": 150, "completion_tokens": 15},
    ]


def test_settings_say_when_ai_is_not_configured(agent_user, tenant, client_for):
    body = client_for(agent_user, tenant).get("/api/v1/ai/settings").json()
    assert (body["configured"], body["api_key_set"]) == (False, False)
    assert [preset["key"] for preset in body["presets"]] == ["openai", "groq", "gemini", "ollama"]


def test_an_admin_configures_ai_from_a_preset(admin_client, tenant, settings):
    settings.AI_ALLOW_PRIVATE_PROVIDER_URLS = True  # no DNS in tests: skip resolving the public host
    response = admin_client.put(
        "/api/v1/ai/settings",
        {"preset": "groq", "api_key": "gsk_secret", "ticket_categories": ["Billing", " billing ", "Delivery"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["configured"], body["api_key_set"], body["base_url"], body["chat_model"]) == (
        True, True, "https://api.groq.com/openai/v1", "llama-3.1-8b-instant",
    )  # fmt: skip
    assert body["ticket_categories"] == ["Billing", "Delivery"]
    assert "gsk_secret" not in response.content.decode()
    # Changing another field keeps the stored key; the column holds ciphertext, not the key.
    admin_client.put("/api/v1/ai/settings", {"preset": "groq", "chat_model": "llama-3.3-70b"}, format="json")
    with tenant_context(tenant):
        from django.db import connection

        from ai.models import AISettings

        stored = AISettings.objects.get()
        assert (stored.api_key, stored.chat_model) == ("gsk_secret", "llama-3.3-70b")
        with connection.cursor() as cursor:
            cursor.execute("SELECT api_key FROM ai_aisettings WHERE id = %s", [stored.pk])
            assert "gsk_secret" not in cursor.fetchone()[0]


def test_private_provider_urls_are_refused_unless_allowed(admin_client, settings):
    settings.AI_ALLOW_PRIVATE_PROVIDER_URLS = False
    refused = admin_client.put("/api/v1/ai/settings", {"preset": "ollama"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "ai_invalid_settings")
    assert "base_url" in refused.json()["fields"]
    settings.AI_ALLOW_PRIVATE_PROVIDER_URLS = True
    allowed = admin_client.put("/api/v1/ai/settings", {"preset": "ollama"}, format="json")
    assert (allowed.status_code, allowed.json()["base_url"]) == (200, "http://localhost:11434/v1")


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
def test_only_admins_change_the_settings(make_member, tenant, client_for, role):
    client = client_for(make_member(tenant, role), tenant)
    response = client.put("/api/v1/ai/settings", {"preset": "openai"}, format="json")
    assert response.status_code == 403
    assert client.get("/api/v1/ai/settings").json()["configured"] is False


# --- Embeddings (for the knowledge base) ----------------------------------------------------------


def test_embeddings_are_metered_and_need_their_model(tenant, admin_user, ai_settings, fake_openai):
    from ai.exceptions import AIFeatureNotConfigured
    from ai.services import texts_embed
    from ai.tests.fakes import vector_of

    with tenant_context(tenant):
        with pytest.raises(AIFeatureNotConfigured):
            texts_embed(tenant=tenant, texts=["entrega"])
        type(ai_settings).objects.filter(pk=ai_settings.pk).update(embeddings_model="fake-embed")
        vectors = texts_embed(tenant=tenant, texts=["entrega", "  ", "nota fiscal"], actor=admin_user)
    assert vectors == [vector_of("entrega"), vector_of("nota fiscal")]
    assert [(row["feature"], row["model"], row["prompt_tokens"]) for row in _usage(tenant)] == [
        ("embed", "fake-embed", 3)
    ]


def test_the_ticket_list_filters_by_the_ais_sentiment_and_category(admin_client, tenant):
    negative = TicketInsightFactory(tenant=tenant, sentiment="negative", category="Delivery")
    TicketInsightFactory(tenant=tenant, sentiment="positive", category="Delivery")
    TicketFactory(tenant=tenant)  # never classified
    by_sentiment = admin_client.get("/api/v1/tickets", {"sentiment": "negative"}).json()
    assert [item["id"] for item in by_sentiment["results"]] == [negative.ticket_id]
    assert admin_client.get("/api/v1/tickets", {"category": "delivery"}).json()["count"] == 2
    assert admin_client.get("/api/v1/tickets").json()["count"] == 3


def test_an_admin_tests_the_connection(admin_client, tenant, ai_settings, fake_openai):
    fake_openai.reply("OK")
    response = admin_client.post("/api/v1/ai/settings/test")
    assert response.status_code == 200, response.content
    assert (response.json()["ok"], response.json()["model"]) == (True, "fake-chat")
    assert _usage(tenant)[0]["feature"] == "connection_test"


def test_a_wrong_key_fails_the_connection_test_with_a_clear_code(admin_client, tenant, ai_settings, fake_openai):
    type(ai_settings).all_tenants.filter(pk=ai_settings.pk).update(api_key="sk-wrong")
    response = admin_client.post("/api/v1/ai/settings/test")
    assert (response.status_code, response.json()["code"]) == (502, "ai_provider_auth_failed")


def test_only_admins_test_the_connection(agent_user, tenant, client_for, ai_settings, fake_openai):
    assert client_for(agent_user, tenant).post("/api/v1/ai/settings/test").status_code == 403
    assert fake_openai.requests == []
