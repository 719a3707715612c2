"""Reads of the AI domain: the tenant's settings, the conversation texts prompts are built from,
and the stored insights (visible as their tickets are, through tickets.selectors)."""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from accounts.models import User
from ai.exceptions import AINotConfigured
from ai.models import AIAgent, AISettings, TicketInsight
from config.batch import batch_memoized, in_batch
from tickets.models import Message, Ticket
from tickets.selectors import ticket_visibility_q
from whatsapp.choices import MessageType

CONVERSATION_MESSAGES = 60
MESSAGE_CHARS = 1000
AUDIO_TYPES = (MessageType.AUDIO, MessageType.VOICE)


def ai_settings_get() -> AISettings | None:
    return AISettings.objects.first()


def ai_settings_require() -> AISettings:
    """The tenant's settings when AI can be used, else AINotConfigured (409)."""
    found = ai_settings_get()
    if found is None or not found.is_configured:
        raise AINotConfigured()
    return found


def _speaker(message: Message) -> str:
    if message.direction == Message.Direction.INBOUND:
        return "Customer"
    if message.is_internal_note:
        return "Internal note"
    if message.sender_type == Message.SenderType.AGENT:
        return f"Agent ({message.author.name})" if message.author_id and message.author.name else "Agent"
    return {Message.SenderType.BOT: "Bot", Message.SenderType.SYSTEM: "Automatic message"}.get(
        message.sender_type, "Company"
    )


def _content(message: Message) -> str:
    transcript = getattr(message, "ai_transcript", None) if message.type in AUDIO_TYPES else None
    if transcript is not None:
        return f"(voice note) {transcript.text}"
    text = (message.text or "").strip()
    if message.type != MessageType.TEXT and not text:
        return f"({message.get_type_display().lower()})"
    if message.type != MessageType.TEXT:
        return f"({message.get_type_display().lower()}) {text}"
    return text


def conversation_lines(messages) -> list[str]:
    return [
        f"[{message.sent_at:%Y-%m-%d %H:%M}] {_speaker(message)}: {_content(message)[:MESSAGE_CHARS]}"
        for message in messages
    ]


def ticket_conversation(*, ticket: Ticket, limit: int = CONVERSATION_MESSAGES, include_notes: bool = True) -> str:
    """The ticket's latest messages as a plain transcript, oldest first (voice notes as their
    transcript when there is one)."""
    messages = (
        Message.objects.filter(ticket=ticket, deleted_at__isnull=True)
        .select_related("author", "ai_transcript")
        .order_by("-sent_at", "-id")
    )
    if not include_notes:
        messages = messages.filter(is_internal_note=False)
    latest = list(messages[:limit])
    latest.reverse()
    return "\n".join(conversation_lines(latest))


def customer_recent_text(*, ticket: Ticket, limit: int = 3) -> str:
    """The customer's latest words: what a knowledge search looks for."""
    texts = (
        Message.objects.filter(ticket=ticket, direction=Message.Direction.INBOUND, deleted_at__isnull=True)
        .exclude(text="")
        .order_by("-sent_at", "-id")
        .values_list("text", flat=True)[:limit]
    )
    return " ".join(reversed(list(texts)))


def contact_conversation(*, contact, limit: int = 80) -> str:
    """The contact's latest messages across their tickets (a deal's conversation)."""
    messages = (
        Message.objects.filter(ticket__contact=contact, deleted_at__isnull=True, is_internal_note=False)
        .select_related("author", "ai_transcript")
        .order_by("-sent_at", "-id")
    )
    latest = list(messages[:limit])
    latest.reverse()
    return "\n".join(conversation_lines(latest))


def closed_tickets_to_summarize(*, since, limit: int) -> list[Ticket]:
    """Tickets closed since `since` whose summary (if any) is older than their closing."""
    return list(
        Ticket.objects.filter(status=Ticket.Status.CLOSED, closed_at__gte=since)
        .filter(Q(ai_insight__isnull=True) | Q(ai_insight__summarized_at__isnull=True)
                | Q(ai_insight__summarized_at__lt=F("closed_at")))
        .select_related("tenant")
        .order_by("closed_at", "id")[:limit]
    )  # fmt: skip


def insight_list_for_user(*, user: User, role: str | None) -> QuerySet[TicketInsight]:
    visible = Ticket.objects.filter(ticket_visibility_q(user=user, role=role)).values("pk")
    return TicketInsight.objects.filter(ticket_id__in=visible).order_by("-updated_at", "-id")


def ai_agent_list() -> QuerySet[AIAgent]:
    return AIAgent.objects.prefetch_related("connections", "queues").order_by("name", "id")


def ai_agent_for(*, agent_id: int | None, connection_id: int | None, queue_id: int | None = None):
    """The agent a flow node names (if it still exists and is active), else the first active
    agent serving the ticket's connection or queue, else the first active agent with no
    connection or queue (serving them all). None: no agent."""
    active = AIAgent.objects.filter(active=True)
    if agent_id:
        return active.filter(pk=agent_id).first()
    return _first_serving(active, connection_id=connection_id, queue_id=queue_id)


def _first_serving(agents, *, connection_id: int | None, queue_id: int | None) -> AIAgent | None:
    """The first of `agents` naming the connection or the queue, else the first naming neither."""
    serves = Q(connections=connection_id)
    if queue_id:
        serves |= Q(queues=queue_id)
    found = agents.filter(serves).order_by("id").first()
    if found is not None:
        return found
    names_a_connection = Exists(AIAgent.connections.through.objects.filter(aiagent_id=OuterRef("pk")))
    names_a_queue = Exists(AIAgent.queues.through.objects.filter(aiagent_id=OuterRef("pk")))
    return agents.filter(~names_a_connection, ~names_a_queue).order_by("id").first()


def auto_agent_for(*, connection_id: int, queue_id: int | None) -> AIAgent | None:
    """The active agent that answers new tickets of this connection/queue without a flow: the
    first naming the connection or queue, else the first naming neither (serving them all).
    Most tenants have none: an inbound batch (config.batch) asks that once for all its new tickets."""
    answering = AIAgent.objects.filter(active=True, answers_new_tickets=True)
    if in_batch() and not batch_memoized(("ai.answers_new_tickets",), answering.exists):
        return None
    return _first_serving(answering, connection_id=connection_id, queue_id=queue_id)
