"""Writes of the AI domain: the tenant's settings, and the agent-assist features.

Each feature follows one path (`_call`): the settings (409 `ai_not_configured` without them), the
member's rate limit and the tenant's monthly cap (429), the provider call — outside any database
transaction, it can take seconds — then the usage row, and in one transaction what the feature
stores. A failed call is metered too (without counting against the cap) and its error re-raised.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from accounts.models import User
from ai import grounding, metering, prompts, selectors
from ai.exceptions import (
    AIBadResponse,
    AIFeatureNotConfigured,
    AIInvalidSettings,
    AIMediaNotReady,
    AINotAudio,
    AINothingToProcess,
    AIProviderError,
    AIQuotaExceeded,
)
from ai.models import AIAgent, AISettings, BotSession, DealQualification, Feature, MessageTranscript, TicketInsight
from ai.presets import CUSTOM, PRESETS
from ai.providers import AIClient
from config.errors import ProsaError, ValidationFailed
from crm.models import Deal, DealActivity
from crm.services_sales import deal_update
from tenants.hours import is_open
from tenants.models import Tenant
from tickets.models import Message, Ticket
from tickets.selectors import customer_messages_after
from whatsapp.exceptions import ProviderUrlNotAllowed
from whatsapp.services import provider_url_check

logger = logging.getLogger("ai")

SETTINGS_FIELDS = {
    "preset",
    "base_url",
    "api_key",
    "chat_model",
    "embeddings_model",
    "transcription_model",
    "timeout_seconds",
    "enabled",
    "ticket_categories",
    "summarize_on_close",
    "auto_transcribe",
}
COMPOSE_ACTIONS = tuple(prompts.COMPOSE_INSTRUCTIONS)
COMPOSE_LANGUAGES = ("pt-br", "en", "es")
COMPOSE_MAX_CHARS = 4000
SUGGESTED_REPLIES = 3
BANT_FIELDS = ("budget", "authority", "need", "timeline")


# --- Settings ----------------------------------------------------------------------------------


def ai_settings_save(*, tenant: Tenant, **changes: Any) -> AISettings:
    """Creates or changes the tenant's AI settings. A preset fills the base URL and the models
    left empty; `api_key=None` (or absent) keeps the stored key, "" removes it."""
    unknown = set(changes) - SETTINGS_FIELDS
    if unknown:
        raise TypeError(f"unknown AI settings: {sorted(unknown)}")
    with transaction.atomic():
        current = AISettings.objects.select_for_update().filter(tenant=tenant).first() or AISettings(tenant=tenant)
        if changes.get("api_key") is None:
            changes.pop("api_key", None)
        for name, value in changes.items():
            setattr(current, name, value)
        preset = PRESETS.get(current.preset)
        if preset is not None:
            for name in ("base_url", "chat_model", "embeddings_model", "transcription_model"):
                if not getattr(current, name):
                    setattr(current, name, getattr(preset, name))
        elif current.preset != CUSTOM:
            raise AIInvalidSettings(fields={"preset": ["Unknown provider preset."]})
        try:
            current.base_url = provider_url_check(
                current.base_url, allow_private=settings.AI_ALLOW_PRIVATE_PROVIDER_URLS
            )
        except ProviderUrlNotAllowed as exc:
            raise AIInvalidSettings(fields={"base_url": [str(exc.detail)]}) from None
        if not current.base_url or not current.chat_model:
            raise AIInvalidSettings(fields={"base_url" if not current.base_url else "chat_model": ["Required."]})
        current.ticket_categories = _clean_categories(current.ticket_categories)
        current.save()
    return current


def _clean_categories(values) -> list[str]:
    if not isinstance(values, list):
        raise AIInvalidSettings(fields={"ticket_categories": ["A list of names."]})
    seen: dict[str, str] = {}
    for value in values:
        name = str(value).strip()[:80]
        if name and name.casefold() not in seen:
            seen[name.casefold()] = name
    return list(seen.values())


def ai_settings_test(*, tenant: Tenant, actor: User) -> dict:
    """One tiny chat call with the saved settings: proves the URL, key and model work (metered)."""
    messages = [{"role": "user", "content": "Reply with the word OK."}]
    completion, usage = _call(
        tenant=tenant, user=actor, feature=Feature.CONNECTION_TEST,
        model_of=_chat_model, request=_chat(messages, temperature=0.0, max_tokens=5),
    )  # fmt: skip
    return {"ok": True, "model": usage.model, "latency_ms": usage.latency_ms}


def ai_client_for(ai_settings: AISettings) -> AIClient:
    return AIClient(
        base_url=ai_settings.base_url, api_key=ai_settings.api_key, timeout=float(ai_settings.timeout_seconds)
    )


# --- The metered call ----------------------------------------------------------------------------


def _call(
    *,
    tenant: Tenant,
    user: User | None,
    feature: str,
    model_of: Callable[[AISettings], str],
    request: Callable[[AIClient, str], Any],
    ticket: Ticket | None = None,
    ai_settings: AISettings | None = None,
):
    """Checks, calls the provider and meters the call (its own row, committed whatever the caller
    does with the answer next: the tokens were spent). Returns (result, the usage row)."""
    ai_settings = ai_settings or selectors.ai_settings_require()
    model = model_of(ai_settings)
    if not model:
        raise AIFeatureNotConfigured()
    metering.usage_rate_check(tenant_id=tenant.pk, user_id=user.pk if user else None)
    metering.usage_quota_check(tenant=tenant)
    client = ai_client_for(ai_settings)
    try:
        result = request(client, model)
    except AIProviderError as exc:
        metering.usage_record(
            tenant=tenant, user=user, ticket=ticket, feature=feature, model=model, error_code=exc.code
        )
        raise
    usage = metering.usage_record(
        tenant=tenant,
        user=user,
        ticket=ticket,
        feature=feature,
        model=getattr(result, "model", model) or model,
        prompt_tokens=getattr(result, "prompt_tokens", 0),
        completion_tokens=getattr(result, "completion_tokens", 0),
        latency_ms=result.latency_ms,
    )
    return result, usage


def _chat(messages: list[dict], **options) -> Callable[[AIClient, str], Any]:
    return lambda client, model: client.chat(model=model, messages=messages, **options)


def _chat_model(ai_settings: AISettings) -> str:
    return ai_settings.chat_model


def _json_object(text: str) -> dict:
    """The JSON object in a model's answer (tolerating code fences and words around it)."""
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end <= start:
        raise AIBadResponse()
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        raise AIBadResponse() from None
    if not isinstance(value, dict):
        raise AIBadResponse()
    return value


def _insight_for(ticket: Ticket) -> TicketInsight:
    insight, _created = TicketInsight.objects.select_for_update().get_or_create(
        ticket=ticket, defaults={"tenant_id": ticket.tenant_id}
    )
    return insight


def _conversation_or_refuse(ticket: Ticket, **options) -> str:
    conversation = selectors.ticket_conversation(ticket=ticket, **options)
    if not conversation:
        raise AINothingToProcess()
    return conversation


# --- Agent assist --------------------------------------------------------------------------------


def ticket_summarize(*, ticket: Ticket, actor: User | None) -> TicketInsight:
    """Summarizes the conversation and stores the summary on the ticket's insight."""
    ai_settings = selectors.ai_settings_require()
    conversation = _conversation_or_refuse(ticket)
    messages = prompts.summarize(conversation=conversation, language=ticket.tenant.language)
    completion, _usage = _call(
        tenant=ticket.tenant, user=actor, ticket=ticket, feature=Feature.SUMMARIZE, ai_settings=ai_settings,
        model_of=_chat_model, request=_chat(messages, max_tokens=500),
    )  # fmt: skip
    summary = completion.text.strip()
    if not summary:
        raise AIBadResponse()
    with transaction.atomic():
        insight = _insight_for(ticket)
        insight.summary = summary
        insight.summarized_at = timezone.now()
        insight.save(update_fields=["summary", "summarized_at", "updated_at"])
    return insight


def ticket_classify(*, ticket: Ticket, actor: User) -> TicketInsight:
    """The customer's sentiment and one of the tenant's categories, stored on the insight."""
    ai_settings = selectors.ai_settings_require()
    conversation = _conversation_or_refuse(ticket, include_notes=False)
    categories = list(ai_settings.ticket_categories or [])
    messages = prompts.classify(conversation=conversation, categories=categories)
    completion, _usage = _call(
        tenant=ticket.tenant, user=actor, ticket=ticket, feature=Feature.CLASSIFY, ai_settings=ai_settings,
        model_of=_chat_model, request=_chat(messages, temperature=0.0, max_tokens=100),
    )  # fmt: skip
    answer = _json_object(completion.text)
    sentiment = str(answer.get("sentiment", "")).strip().lower()
    if sentiment not in TicketInsight.Sentiment.values:
        raise AIBadResponse()
    by_key = {category.casefold(): category for category in categories}
    category = by_key.get(str(answer.get("category") or "").strip().casefold(), "")
    with transaction.atomic():
        insight = _insight_for(ticket)
        insight.sentiment = sentiment
        insight.category = category
        insight.classified_at = timezone.now()
        insight.save(update_fields=["sentiment", "category", "classified_at", "updated_at"])
    return insight


def text_compose(*, tenant: Tenant, actor: User, text: str, action: str, target_language: str | None = None) -> str:
    """The text rewritten (more formal, friendlier, shorter, corrected) or translated."""
    ai_settings = selectors.ai_settings_require()
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(fields={"text": ["Required."]})
    if action not in COMPOSE_ACTIONS:
        raise ValidationFailed(fields={"action": ["Unknown action."]})
    if action == "translate" and target_language not in COMPOSE_LANGUAGES:
        raise ValidationFailed(fields={"target_language": ["One of pt-br, en, es."]})
    messages = prompts.compose(text=text[:COMPOSE_MAX_CHARS], action=action, target_language=target_language)
    completion, _usage = _call(
        tenant=tenant, user=actor, feature=Feature.COMPOSE, ai_settings=ai_settings,
        model_of=_chat_model, request=_chat(messages, temperature=0.3, max_tokens=1200),
    )  # fmt: skip
    result = completion.text.strip()
    if not result:
        raise AIBadResponse()
    return result


def ticket_suggest_replies(*, ticket: Ticket, actor: User) -> dict:
    """Three replies the agent could send, grounded on the conversation and on the knowledge base
    articles found for the customer's latest words (listed in the answer). Nothing is stored."""
    ai_settings = selectors.ai_settings_require()
    conversation = _conversation_or_refuse(ticket, include_notes=False)
    articles = grounding.knowledge_for(query=selectors.customer_recent_text(ticket=ticket))
    messages = prompts.suggest_replies(conversation=conversation, articles=articles, language=ticket.tenant.language)
    completion, _usage = _call(
        tenant=ticket.tenant, user=actor, ticket=ticket, feature=Feature.SUGGEST_REPLIES, ai_settings=ai_settings,
        model_of=_chat_model, request=_chat(messages, temperature=0.7, max_tokens=800),
    )  # fmt: skip
    replies = _json_object(completion.text).get("replies")
    if not isinstance(replies, list):
        raise AIBadResponse()
    replies = [str(reply).strip() for reply in replies if str(reply).strip()][:SUGGESTED_REPLIES]
    if not replies:
        raise AIBadResponse()
    return {
        "replies": replies,
        "articles": [{"id": article.id, "title": article.title} for article in articles],
    }


def _transcription_language(tenant: Tenant) -> str | None:
    # Whisper takes ISO-639-1 codes; the tenant's language is a hint, not a constraint.
    return (tenant.language or "").split("-")[0] or None


def message_transcribe(*, message: Message, actor: User | None) -> MessageTranscript:
    """The text of a voice note (Whisper-compatible endpoint), stored with the message. `actor`
    None: the automatic transcription of an inbound voice note (`voice_note_transcribe`)."""
    ai_settings = selectors.ai_settings_require()
    if message.type not in selectors.AUDIO_TYPES:
        raise AINotAudio()
    if message.media_status != Message.MediaStatus.READY or not message.media_file:
        raise AIMediaNotReady()
    with message.media_file.open("rb") as media:
        content = media.read()
    filename = message.media_filename or message.media_file.name.rsplit("/", 1)[-1] or "voice.ogg"
    language = _transcription_language(message.tenant)

    def request(client: AIClient, model: str):
        return client.transcribe(
            model=model, filename=filename, content=content, mime_type=message.media_mime, language=language
        )

    transcription, _usage = _call(
        tenant=message.tenant, user=actor, ticket=message.ticket, feature=Feature.TRANSCRIBE,
        ai_settings=ai_settings, model_of=lambda found: found.transcription_model, request=request,
    )  # fmt: skip
    if not transcription.text:
        raise AIBadResponse()
    with transaction.atomic():
        transcript, _created = MessageTranscript.objects.update_or_create(
            message=message,
            defaults={
                "tenant_id": message.tenant_id,
                "text": transcription.text,
                "language": transcription.language[:16],
                "model": transcription.model[:120],
            },
        )
    return transcript


def texts_embed(*, tenant: Tenant, texts: list[str], actor: User | None = None) -> list[list[float]]:
    """Embedding vectors of `texts` (one metered request), for the knowledge base's optional
    semantic search. 409 `ai_feature_not_configured` without an embeddings model: callers treat
    embeddings as optional and fall back to full-text search."""
    texts = [text for text in texts if text and text.strip()]
    if not texts:
        return []
    embeddings, _usage = _call(
        tenant=tenant, user=actor, feature=Feature.EMBED,
        model_of=lambda found: found.embeddings_model,
        request=lambda client, model: client.embed(model=model, texts=texts),
    )  # fmt: skip
    if len(embeddings.vectors) != len(texts):
        raise AIBadResponse()
    return embeddings.vectors


CLOSED_SUMMARY_WINDOW_HOURS = 24
CLOSED_SUMMARIES_PER_RUN = 20


def closed_tickets_summarize(*, tenant: Tenant) -> int:
    """Summarizes the tickets closed in the last day that have no summary since they closed (at
    most CLOSED_SUMMARIES_PER_RUN a run), when the tenant asked for it. Stops at the monthly cap
    or at the first provider failure (the next run tries again). Returns how many it summarized."""
    ai_settings = selectors.ai_settings_get()
    if ai_settings is None or not ai_settings.is_configured or not ai_settings.summarize_on_close:
        return 0
    done = 0
    for ticket in selectors.closed_tickets_to_summarize(
        since=timezone.now() - timedelta(hours=CLOSED_SUMMARY_WINDOW_HOURS), limit=CLOSED_SUMMARIES_PER_RUN
    ):
        try:
            ticket_summarize(ticket=ticket, actor=None)
        except AINothingToProcess:
            continue
        except (AIQuotaExceeded, AIProviderError):
            break
        done += 1
    return done


# --- Sales ---------------------------------------------------------------------------------------


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _budget_value(value) -> Decimal | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    digits = re.sub(r"[^\d,.]", "", str(value or ""))
    if not digits:
        return None
    # "5.000,00" (pt-BR) and "5,000.00" (en): the last separator followed by 2 digits is decimal.
    match = re.fullmatch(r"(.*?)[.,](\d{1,2})", digits)
    whole, cents = (match.group(1), match.group(2)) if match else (digits, "0")
    try:
        return Decimal(f"{re.sub(r'[.,]', '', whole) or '0'}.{cents}").quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def deal_qualify(*, deal: Deal, actor: User) -> DealQualification:
    """BANT from the contact's conversations and the deal's notes. A field is filled only when the
    model quotes words that really are in the conversation (the quote is kept as evidence); the
    others keep their value."""
    ai_settings = selectors.ai_settings_require()
    conversation = selectors.contact_conversation(contact=deal.contact) if deal.contact_id else ""
    notes = "\n".join(
        DealActivity.objects.filter(
            deal=deal, type__in=[DealActivity.Type.NOTE, DealActivity.Type.CALL, DealActivity.Type.MEETING]
        )
        .exclude(text="")
        .order_by("-created_at")
        .values_list("text", flat=True)[:20]
    )
    if not conversation and not notes:
        raise AINothingToProcess()
    messages = prompts.qualify(conversation=conversation, notes=notes)
    completion, usage = _call(
        tenant=deal.tenant, user=actor, feature=Feature.QUALIFY, ai_settings=ai_settings,
        model_of=_chat_model, request=_chat(messages, temperature=0.0, max_tokens=600),
    )  # fmt: skip
    answer = _json_object(completion.text)
    source = _normalized(f"{conversation}\n{notes}")
    evidence: dict[str, dict] = {}
    changes: dict[str, Any] = {}
    for field in BANT_FIELDS:
        item = answer.get(field)
        if not isinstance(item, dict):
            continue
        value, quote = item.get("value"), str(item.get("quote") or "").strip()
        if value in (None, "") or not quote or _normalized(quote) not in source:
            continue
        if field == "budget":
            budget = _budget_value(value)
            if budget is None:
                continue
            changes["budget"] = budget
            evidence[field] = {"value": str(budget), "quote": quote}
        else:
            limit = Deal._meta.get_field(field).max_length
            text = str(value).strip()
            changes[field] = text[:limit] if limit else text
            evidence[field] = {"value": changes[field], "quote": quote}
    with transaction.atomic():
        if changes:
            deal = deal_update(deal=deal, actor=actor, **changes)
        qualification, _created = DealQualification.objects.update_or_create(
            deal=deal,
            defaults={
                "tenant_id": deal.tenant_id,
                "evidence": evidence,
                "model": usage.model,
                "qualified_by": actor,
            },
        )
    return qualification


# --- AI agents (bots) ------------------------------------------------------------------------------

AGENT_FIELDS = {
    "name", "instructions", "language", "knowledge_tags", "knowledge_categories", "connections", "queues",
    "active", "max_bot_turns", "handoff_queue", "handoff_on_negative_sentiment", "answers_new_tickets",
    "business_hours",
}  # fmt: skip


def ai_agent_save(*, agent: AIAgent, **changes: Any) -> AIAgent:
    unknown = set(changes) - AGENT_FIELDS
    if unknown:
        raise TypeError(f"unknown AI agent fields: {sorted(unknown)}")
    connections = changes.pop("connections", None)
    queues = changes.pop("queues", None)
    for name, value in changes.items():
        setattr(agent, name, value)
    for name in ("knowledge_tags", "knowledge_categories"):
        setattr(agent, name, _clean_categories(getattr(agent, name) or []))
    with transaction.atomic():
        agent.save()
        if connections is not None:
            agent.connections.set(connections)
        if queues is not None:
            agent.queues.set(queues)
    return agent


# Words by which a customer asks for a person (accents and case ignored; whole words).
HUMAN_REQUEST_WORDS = frozenset(
    {
        "atendente", "humano", "humana", "pessoa", "operador", "operadora", "gerente", "alguem",
        "agent", "human", "person", "operator", "representative", "someone", "manager",
        "agente", "persona", "asesor",
    }
)  # fmt: skip
HUMAN_REQUEST_PHRASES = ("falar com alguem", "talk to someone", "real person", "hablar con alguien")


class Handoff:
    """Why a bot gave the ticket to people (`BotOutcome.reason`)."""

    PERSON_ASKED = "person_asked"
    NOTHING_FOUND = "nothing_found"
    UNKNOWN = "unknown_answer"
    NEGATIVE = "negative_sentiment"
    TURN_LIMIT = "turn_limit"
    AI_UNAVAILABLE = "ai_unavailable"
    HOURS = "business_hours"
    VOICE_NOTE = "voice_note"
    AGENT_INACTIVE = "agent_inactive"


def _handoff_note(reason: str, detail: str) -> str:
    texts = {
        Handoff.PERSON_ASKED: _("The customer asked for a person."),
        Handoff.NOTHING_FOUND: _("The knowledge base has nothing on the customer's question."),
        Handoff.UNKNOWN: _("The AI agent did not know the answer."),
        Handoff.NEGATIVE: _("The customer seems upset."),
        Handoff.TURN_LIMIT: _("The AI agent reached its limit of answers on this ticket."),
        Handoff.AI_UNAVAILABLE: _("AI is not available (%(code)s).") % {"code": detail},
        Handoff.HOURS: _("The AI agent does not answer at this time of day."),
        Handoff.VOICE_NOTE: _("The customer sent a voice note the AI agent could not read."),
        Handoff.AGENT_INACTIVE: _("The AI agent was switched off or deleted."),
    }
    return _("AI agent handed the ticket over: %(why)s") % {"why": texts[reason]}


@dataclass
class BotOutcome:
    """What a bot decided: `answered` (text + the cited article ids) or `handoff` (a reason)."""

    answered: bool
    text: str = ""
    article_ids: list[int] = dataclass_field(default_factory=list)
    reason: str = ""
    detail: str = ""
    message: Message | None = None

    @property
    def handed_over(self) -> bool:
        return not self.answered


def _plain_words(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def customer_asks_for_person(text: str) -> bool:
    plain = _plain_words(text)
    if any(phrase in plain for phrase in HUMAN_REQUEST_PHRASES):
        return True
    return bool(HUMAN_REQUEST_WORDS.intersection(re.findall(r"\w+", plain)))


def bot_turns(*, ticket: Ticket) -> int:
    return Message.objects.filter(
        ticket=ticket, sender_type=Message.SenderType.BOT, payload__has_key="ai_agent"
    ).count()


def bot_decide(*, ticket: Ticket, agent: AIAgent, customer_text: str) -> BotOutcome:
    """The bot's answer to the customer's latest words, or why a person must take over. Writes
    nothing but the usage row (so a flow can apply it later, inside its own transaction)."""
    handoff = lambda reason, detail="": BotOutcome(answered=False, reason=reason, detail=detail)  # noqa: E731
    if customer_asks_for_person(customer_text):
        return handoff(Handoff.PERSON_ASKED)
    if bot_turns(ticket=ticket) >= agent.max_bot_turns:
        return handoff(Handoff.TURN_LIMIT)
    ai_settings = selectors.ai_settings_get()
    if ai_settings is None or not ai_settings.is_configured:
        return handoff(Handoff.AI_UNAVAILABLE, "ai_not_configured")
    articles = grounding.knowledge_for(
        query=customer_text, tags=agent.knowledge_tags, categories=agent.knowledge_categories
    )
    if not articles:
        return handoff(Handoff.NOTHING_FOUND)
    conversation = selectors.ticket_conversation(ticket=ticket, include_notes=False) or f"Customer: {customer_text}"
    messages = prompts.bot_reply(
        instructions=agent.instructions, language=agent.language, articles=articles,
        conversation=conversation, ask_sentiment=agent.handoff_on_negative_sentiment,
    )  # fmt: skip
    try:
        completion, _usage = _call(
            tenant=ticket.tenant, user=None, ticket=ticket, feature=Feature.BOT_REPLY, ai_settings=ai_settings,
            model_of=_chat_model, request=_chat(messages, temperature=0.2, max_tokens=600),
        )  # fmt: skip
        answer = _json_object(completion.text)
    except ProsaError as exc:  # quota, provider failure, unreadable answer: people take over
        return handoff(Handoff.AI_UNAVAILABLE, exc.code)
    sentiment = str(answer.get("sentiment") or "").strip().lower()
    if agent.handoff_on_negative_sentiment and sentiment == TicketInsight.Sentiment.NEGATIVE:
        return handoff(Handoff.NEGATIVE)
    text = str(answer.get("answer") or "").strip()
    if answer.get("known") is not True or not text:
        return handoff(Handoff.UNKNOWN)
    found = {article.id for article in articles}
    cited = [int(i) for i in answer.get("article_ids") or [] if str(i).isdigit() and int(i) in found]
    return BotOutcome(answered=True, text=text, article_ids=cited or [article.id for article in articles[:1]])


def bot_outcome_apply(*, ticket: Ticket, agent: AIAgent, outcome: BotOutcome) -> BotOutcome:
    """Sends the answer (with its cited articles on the message), or hands the ticket to people:
    pending in the agent's handoff queue (else its queue), `is_bot` off, agents notified, and a
    note saying why. A refused send (closed ticket, closed window) becomes a handoff."""
    from tickets import events
    from tickets import services as ticket_services

    if outcome.answered:
        try:
            with transaction.atomic():
                outcome.message = ticket_services.bot_message_send(
                    ticket=ticket, text=outcome.text,
                    payload={"ai_agent": agent.pk, "articles": outcome.article_ids},
                )  # fmt: skip
            return outcome
        except ProsaError as exc:
            outcome = BotOutcome(answered=False, reason=Handoff.AI_UNAVAILABLE, detail=exc.code)
    with transaction.atomic(), override(ticket.tenant.language or None):
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status == Ticket.Status.CLOSED:
            return outcome
        ticket_services.system_note_add(ticket=locked, text=_handoff_note(outcome.reason, outcome.detail))
        queue = agent.handoff_queue or locked.queue or locked.connection.default_queue
        if queue is not None and locked.assignee_id is None:
            ticket_services.ticket_transfer(ticket=locked, actor=None, to_queue=queue)
        elif locked.is_bot:
            Ticket.objects.filter(pk=locked.pk).update(is_bot=False, updated_at=timezone.now())
            locked.is_bot = False
            events.ticket_updated(locked)
        ticket.is_bot, ticket.queue_id, ticket.status = locked.is_bot, locked.queue_id, locked.status
    return outcome


def bot_reply(*, ticket: Ticket, agent: AIAgent, customer_text: str) -> BotOutcome:
    """An AI agent's turn on a ticket: answer only from the knowledge base, or hand over to people
    (the customer asked for a person, nothing relevant found, the model does not know, the customer
    is upset, the turn limit, AI unavailable). Metered as feature `bot_reply`."""
    outcome = bot_decide(ticket=ticket, agent=agent, customer_text=customer_text)
    return bot_outcome_apply(ticket=ticket, agent=agent, outcome=outcome)


# --- AI agents on new tickets, without a flow (BotSession) --------------------------------------------
#
# Inbound (tickets.routing, ticket locked): `bot_session_continue` hands the message to the session
# holding the ticket; `bot_session_start` lets an agent take a new ticket no flow took. Both only
# schedule `bot_session_advance` after commit: the provider call never runs in the inbound
# transaction. The task locks the session row (one worker per ticket at a time; the inbound path
# never locks it, so the two never wait for each other in a circle), decides outside the ticket's
# lock, then locks the ticket, checks again that no person took it meanwhile and applies the
# outcome, moving `last_message_id` past the messages it answered in the same transaction: however
# often the task runs for a message, it is answered once.

SESSION_MESSAGES_PER_TURN = 20


def agent_answers_at(*, agent: AIAgent, ticket: Ticket, at) -> bool:
    """The agent's business-hours behaviour, against the hours of the ticket's queue (else the
    connection's default queue's, else the workspace's)."""
    if agent.business_hours == AIAgent.Hours.ALWAYS:
        return True
    hours_of = ticket.queue or ticket.connection.default_queue
    schedule = (hours_of.business_hours if hours_of else None) or ticket.tenant.business_hours
    inside = is_open(schedule, ticket.tenant.timezone, at)
    return inside if agent.business_hours == AIAgent.Hours.INSIDE else not inside


def _schedule_session_advance(session_id: int, tenant_id: int, *, unreadable_message_id: int | None = None) -> None:
    from ai.tasks import bot_session_advance_task

    transaction.on_commit(
        lambda: bot_session_advance_task.delay(
            session_id=session_id, tenant_id=tenant_id, unreadable_message_id=unreadable_message_id
        )
    )


def bot_session_continue(*, ticket: Ticket) -> bool:
    """Routing asks first, for each customer message (ticket locked): does an AI agent hold this
    ticket? Then the message is its, answered after commit, and nothing else routes it."""
    if not ticket.is_bot:  # only a person clears is_bot while a session is active: then it is theirs
        return False
    session_id = (
        BotSession.objects.filter(ticket=ticket, status=BotSession.Status.ACTIVE).values_list("pk", flat=True).first()
    )
    if session_id is None:
        return False
    _schedule_session_advance(session_id, ticket.tenant_id)
    return True


def bot_session_start(*, ticket: Ticket, message: Message, ticket_was_created: bool) -> BotSession | None:
    """A new ticket that no flow took, waiting for people: the active agent answering new tickets
    of its connection/queue takes it (is_bot on) when its hours say so and AI is configured. The
    ticket then skips the out-of-hours message, greeting and queue menu: the agent answers instead."""
    from tickets import events

    if not ticket_was_created or ticket.is_bot:
        return None
    if ticket.status != Ticket.Status.PENDING or ticket.assignee_id is not None:
        return None
    agent = selectors.auto_agent_for(
        connection_id=ticket.connection_id, queue_id=ticket.queue_id or ticket.connection.default_queue_id
    )
    if agent is None or not agent_answers_at(agent=agent, ticket=ticket, at=message.sent_at):
        return None
    ai_settings = selectors.ai_settings_get()
    if ai_settings is None or not ai_settings.is_configured:
        return None  # nothing pretends to answer: the ticket is routed to people as usual
    try:
        with transaction.atomic():
            session = BotSession.objects.create(tenant_id=ticket.tenant_id, ticket=ticket, agent=agent)
    except IntegrityError:  # this ticket already had its session
        return None
    Ticket.objects.filter(pk=ticket.pk).update(is_bot=True, updated_at=timezone.now())
    ticket.is_bot = True
    events.ticket_updated(ticket)
    _schedule_session_advance(session.pk, ticket.tenant_id)
    return session


def _session_taken_over(*, session: BotSession, ticket: Ticket) -> str:
    """Why a person holds the conversation now, or ''."""
    if ticket.status == Ticket.Status.CLOSED:
        return "ticket_closed"
    if not ticket.is_bot or ticket.assignee_id is not None:
        return "bot_stopped"
    if Message.objects.filter(
        ticket=ticket, sender_type=Message.SenderType.AGENT, is_internal_note=False, created_at__gte=session.started_at
    ).exists():
        return "agent_replied"
    return ""


def _session_end(session: BotSession, *, status: str, reason: str) -> None:
    session.status, session.end_reason, session.ended_at = status, reason[:40], timezone.now()


def _voice_note_waits(message: Message, ai_settings: AISettings | None) -> bool:
    """A voice note without transcript is worth waiting for while it is on its way: downloading,
    or downloaded and transcribed automatically (the transcription task resumes the session)."""
    if ai_settings is None or not ai_settings.transcribes_automatically:
        return False
    return message.media_status in (Message.MediaStatus.PENDING, Message.MediaStatus.READY)


def bot_session_advance(*, session_id: int, unreadable_message_id: int | None = None) -> BotSession | None:
    """The session's turn: the customer's messages since the last turn (voice notes as their
    transcript) get one answer, or the ticket goes to people. Safe to run any number of times from
    any number of workers: each message is answered at most once. `unreadable_message_id`: the
    voice note whose transcription failed (the session stops waiting for it)."""
    from tickets import events

    with transaction.atomic():
        session = (
            BotSession.objects.select_for_update(of=("self",)).select_related("agent").filter(pk=session_id).first()
        )
        if session is None or not session.is_active:
            return session
        ticket = Ticket.objects.select_related("tenant", "connection__default_queue", "queue").get(pk=session.ticket_id)
        with override(ticket.tenant.language or None):
            taken = _session_taken_over(session=session, ticket=ticket)
            if taken:
                _session_end(session, status=BotSession.Status.TAKEN_OVER, reason=taken)
                session.save(update_fields=["status", "end_reason", "ended_at"])
                _release_from_session(ticket, events)
                return session
            new_messages = list(
                customer_messages_after(ticket=ticket, after_id=session.last_message_id).select_related(
                    "ai_transcript"
                )[:SESSION_MESSAGES_PER_TURN]
            )
            if not new_messages:
                return session
            ai_settings = selectors.ai_settings_get()
            texts, unreadable = [], False
            for message in new_messages:
                if message.type not in selectors.AUDIO_TYPES:
                    texts.append((message.text or "").strip())
                    continue
                transcript = getattr(message, "ai_transcript", None)
                if transcript is not None:
                    texts.append(transcript.text.strip())
                elif message.pk != unreadable_message_id and _voice_note_waits(message, ai_settings):
                    return session  # the transcription task resumes the session
                else:
                    unreadable = True
            agent = session.agent
            at = new_messages[-1].sent_at
            if unreadable:
                outcome = BotOutcome(answered=False, reason=Handoff.VOICE_NOTE)
            elif agent is None or not agent.active:
                outcome = BotOutcome(answered=False, reason=Handoff.AGENT_INACTIVE)
            elif not agent_answers_at(agent=agent, ticket=ticket, at=at):
                outcome = BotOutcome(answered=False, reason=Handoff.HOURS)
            else:  # the provider call: the session row is locked, the ticket is not
                outcome = bot_decide(ticket=ticket, agent=agent, customer_text="\n".join(t for t in texts if t))

            locked = (
                Ticket.objects.select_for_update(of=("self",))
                .select_related("tenant", "contact", "queue", "assignee", "connection__default_queue")
                .get(pk=ticket.pk)
            )
            session.last_message_id = new_messages[-1].pk
            taken = _session_taken_over(session=session, ticket=locked)
            if taken:  # a person took the ticket while the bot was thinking: nothing is sent
                _session_end(session, status=BotSession.Status.TAKEN_OVER, reason=taken)
                _release_from_session(locked, events)
            else:
                outcome = _session_outcome_apply(ticket=locked, agent=agent, outcome=outcome)
                if outcome.handed_over:
                    _session_end(session, status=BotSession.Status.HANDED_OVER, reason=outcome.reason)
            session.save(update_fields=["status", "last_message_id", "end_reason", "ended_at"])
        if session.is_active and len(new_messages) == SESSION_MESSAGES_PER_TURN:
            _schedule_session_advance(session.pk, session.tenant_id)  # more were waiting
    return session


def _session_outcome_apply(*, ticket: Ticket, agent: AIAgent | None, outcome: BotOutcome) -> BotOutcome:
    if agent is not None:
        return bot_outcome_apply(ticket=ticket, agent=agent, outcome=outcome)
    # The agent is gone: hand over as bot_outcome_apply does, without its handoff queue.
    gone = AIAgent(tenant_id=ticket.tenant_id, handoff_queue=None)
    return bot_outcome_apply(ticket=ticket, agent=gone, outcome=outcome)


def _release_from_session(ticket: Ticket, events) -> None:
    if ticket.is_bot:
        Ticket.objects.filter(pk=ticket.pk).update(is_bot=False, updated_at=timezone.now())
        ticket.is_bot = False
        events.ticket_updated(ticket)


def bot_session_stop(*, ticket_id: int) -> BotSession | None:
    """A person took the ticket (tickets.services): its active session ends as taken over."""
    session_id = (
        BotSession.objects.filter(ticket_id=ticket_id, status=BotSession.Status.ACTIVE)
        .values_list("pk", flat=True)
        .first()
    )
    return bot_session_advance(session_id=session_id) if session_id else None


# --- Voice notes transcribed as they arrive ----------------------------------------------------------


def voice_note_downloaded(*, message: Message) -> None:
    """tickets.inbound, when a customer's audio is downloaded (or failed to be), in its transaction:
    transcribe it after commit when the tenant asks for it — or tell the bot holding the ticket
    that this one cannot be read."""
    if message.type not in selectors.AUDIO_TYPES or message.direction != Message.Direction.INBOUND:
        return
    ai_settings = selectors.ai_settings_get()
    if message.media_status == Message.MediaStatus.READY and ai_settings and ai_settings.transcribes_automatically:
        from ai.tasks import voice_note_transcribe_task

        message_id, tenant_id = message.pk, message.tenant_id
        transaction.on_commit(lambda: voice_note_transcribe_task.delay(message_id=message_id, tenant_id=tenant_id))
        return
    _session_resume_after_voice_note(message=message, transcribed=False)


def _session_resume_after_voice_note(*, message: Message, transcribed: bool) -> None:
    session_id = (
        BotSession.objects.filter(
            ticket_id=message.ticket_id, status=BotSession.Status.ACTIVE, last_message_id__lt=message.pk
        )
        .values_list("pk", flat=True)
        .first()
    )
    if session_id is not None:
        _schedule_session_advance(
            session_id, message.tenant_id, unreadable_message_id=None if transcribed else message.pk
        )


def voice_note_transcribe(*, message_id: int) -> MessageTranscript | None:
    """The automatic transcription of a customer's voice note (metered, no user), shown under the
    audio at once (`message.updated`); the bot holding the ticket then reads it as the customer's
    words. A failure leaves the manual button; the bot hands the ticket to people."""
    from tickets import events

    message = Message.objects.select_related("ticket", "tenant", "ai_transcript").filter(pk=message_id).first()
    if message is None or message.type not in selectors.AUDIO_TYPES:
        return None
    transcript = getattr(message, "ai_transcript", None)
    if transcript is None:
        try:
            transcript = message_transcribe(message=message, actor=None)
        except ProsaError as exc:
            logger.info("automatic transcription failed", extra={"message_id": message_id, "code": exc.code})
            transcript = None
    with transaction.atomic():
        if transcript is not None:
            message.ai_transcript = transcript
            events.message_updated(message)
        _session_resume_after_voice_note(message=message, transcribed=transcript is not None)
    return transcript
