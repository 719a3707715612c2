"""The AI domain: a tenant's provider settings, the metering of every call, and what the AI
produced for tickets, messages and deals (kept here, linked one-to-one, so the other apps' tables
stay as they are)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ai.presets import CUSTOM, PRESET_CHOICES
from tenants.models import TenantOwned
from whatsapp.fields import EncryptedTextField


class AISettings(TenantOwned):
    """The tenant's OpenAI-compatible provider (one row per tenant; none = AI not configured)."""

    preset = models.CharField(_("provider"), max_length=16, choices=PRESET_CHOICES, default=CUSTOM)
    base_url = models.CharField(_("API base URL"), max_length=300, help_text=_("e.g. https://api.openai.com/v1"))
    api_key = EncryptedTextField(_("API key"), blank=True)
    chat_model = models.CharField(_("chat model"), max_length=120)
    embeddings_model = models.CharField(_("embeddings model"), max_length=120, blank=True)
    transcription_model = models.CharField(
        _("transcription model"), max_length=120, blank=True,
        help_text=_("Whisper-compatible; empty = no transcription."),
    )  # fmt: skip
    timeout_seconds = models.PositiveSmallIntegerField(_("timeout (seconds)"), default=30)
    enabled = models.BooleanField(_("enabled"), default=True)
    auto_transcribe = models.BooleanField(
        _("transcribe voice notes automatically"), default=True,
        help_text=_("Each customer voice note is transcribed when it arrives (needs a transcription model)."),
    )  # fmt: skip
    summarize_on_close = models.BooleanField(
        _("summarize tickets when they close"), default=False,
        help_text=_("A background job summarizes each closed ticket within a few minutes (uses AI requests)."),
    )  # fmt: skip
    # The categories `classify` chooses from, defined by the tenant: ["billing", "delivery", ...].
    ticket_categories = models.JSONField(_("ticket categories"), default=list, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("AI settings")
        verbose_name_plural = _("AI settings")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="ai_settings_one_per_tenant")]

    def __str__(self) -> str:
        return f"{self.get_preset_display()} · {self.chat_model}"

    @property
    def is_configured(self) -> bool:
        return bool(self.enabled and self.base_url and self.chat_model)

    @property
    def transcribes_automatically(self) -> bool:
        return bool(self.is_configured and self.transcription_model and self.auto_transcribe)


class Feature(models.TextChoices):
    SUMMARIZE = "summarize", _("Summarize a ticket")
    CLASSIFY = "classify", _("Sentiment and category")
    COMPOSE = "compose", _("Compose / rewrite")
    SUGGEST_REPLIES = "suggest_replies", _("Suggest replies")
    TRANSCRIBE = "transcribe", _("Transcribe a voice note")
    QUALIFY = "qualify", _("BANT qualification")
    EMBED = "embed", _("Embeddings (knowledge search)")
    CONNECTION_TEST = "connection_test", _("Connection test")
    BOT_REPLY = "bot_reply", _("AI agent reply")


class AIUsage(TenantOwned):
    """One call to the provider: who, for what, with which model, what it cost, how long it took."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("user"),
    )  # fmt: skip
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("ticket")
    )
    feature = models.CharField(_("feature"), max_length=24, choices=Feature.choices)
    model = models.CharField(_("model"), max_length=120)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), default=0)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), default=0)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    succeeded = models.BooleanField(_("succeeded"), default=True)
    error_code = models.CharField(_("error"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("AI usage")
        verbose_name_plural = _("AI usage")
        ordering = ["-created_at", "-id"]
        # The monthly cap counts a tenant's calls since the 1st: one range scan.
        indexes = [models.Index(fields=["tenant", "created_at"], name="ai_usage_tenant_time")]

    def __str__(self) -> str:
        return f"{self.get_feature_display()} · {self.model}"


class TicketInsight(TenantOwned):
    """What the AI said about a ticket: its summary, the customer's sentiment and a category."""

    class Sentiment(models.TextChoices):
        POSITIVE = "positive", _("Positive")
        NEUTRAL = "neutral", _("Neutral")
        NEGATIVE = "negative", _("Negative")

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="ai_insight", verbose_name=_("ticket")
    )
    summary = models.TextField(_("summary"), blank=True)
    summarized_at = models.DateTimeField(_("summarized at"), null=True, blank=True)
    sentiment = models.CharField(_("sentiment"), max_length=16, choices=Sentiment.choices, blank=True)
    category = models.CharField(_("category"), max_length=80, blank=True)
    classified_at = models.DateTimeField(_("classified at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("ticket insight")
        verbose_name_plural = _("ticket insights")
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "sentiment"], name="ai_insight_sentiment"),
            models.Index(fields=["tenant", "category"], name="ai_insight_category"),
        ]

    def __str__(self) -> str:
        return f"Insight on ticket {self.ticket_id}"


class MessageTranscript(TenantOwned):
    """The text of a voice note, shown under the audio."""

    message = models.OneToOneField(
        "tickets.Message", on_delete=models.CASCADE, related_name="ai_transcript", verbose_name=_("message")
    )
    text = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=16, blank=True)
    model = models.CharField(_("model"), max_length=120)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("transcript")
        verbose_name_plural = _("transcripts")

    def __str__(self) -> str:
        return f"Transcript of message {self.message_id}"


class DealQualification(TenantOwned):
    """The evidence behind the BANT fields the AI filled on a deal: per field, the value and the
    customer's words it came from — {"budget": {"value": "5000", "quote": "..."}, ...}."""

    deal = models.OneToOneField(
        "crm.Deal", on_delete=models.CASCADE, related_name="ai_qualification", verbose_name=_("deal")
    )
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    model = models.CharField(_("model"), max_length=120)
    qualified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("BANT qualification")
        verbose_name_plural = _("BANT qualifications")

    def __str__(self) -> str:
        return f"BANT of deal {self.deal_id}"


class AIAgent(TenantOwned):
    """A bot that answers customers only from the knowledge base and hands the ticket to people
    (`ai.services.bot_reply`). Used by the flows' AI reply node, and — with `answers_new_tickets` —
    on new tickets of its connections/queues that no flow takes (`BotSession`)."""

    class Hours(models.TextChoices):
        ALWAYS = "always", _("Always")
        OUTSIDE = "outside", _("Only outside business hours")
        INSIDE = "inside", _("Only inside business hours")

    name = models.CharField(_("name"), max_length=120)
    instructions = models.TextField(
        _("persona and instructions"), blank=True, help_text=_("Who the bot is and how it talks (tone, limits).")
    )
    language = models.CharField(_("language"), max_length=16, default="pt-br")
    knowledge_tags = models.JSONField(_("knowledge tags"), default=list, blank=True)
    knowledge_categories = models.JSONField(_("knowledge categories"), default=list, blank=True)
    connections = models.ManyToManyField(
        "whatsapp.Connection", blank=True, related_name="+", verbose_name=_("connections")
    )
    queues = models.ManyToManyField("tickets.Queue", blank=True, related_name="+", verbose_name=_("queues"))
    active = models.BooleanField(_("active"), default=True)
    answers_new_tickets = models.BooleanField(
        _("answer new tickets without a flow"), default=False,
        help_text=_("New tickets on its connections/queues that no flow takes are answered by this agent first."),
    )  # fmt: skip
    business_hours = models.CharField(
        _("when it answers"), max_length=8, choices=Hours.choices, default=Hours.ALWAYS,
        help_text=_("Business hours of the ticket's queue, else the workspace's."),
    )  # fmt: skip
    max_bot_turns = models.PositiveSmallIntegerField(
        _("max bot turns"), default=5, help_text=_("Answers per ticket before a person takes over.")
    )
    handoff_queue = models.ForeignKey(
        "tickets.Queue", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("handoff queue"),
    )  # fmt: skip
    handoff_on_negative_sentiment = models.BooleanField(_("hand over when the customer is upset"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("AI agent")
        verbose_name_plural = _("AI agents")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class BotSession(TenantOwned):
    """An AI agent holding a ticket without a flow (the ticket is `is_bot` while it is active).
    One per ticket: once people have it, the bot does not come back to that ticket."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Answering")
        HANDED_OVER = "handed_over", _("Handed over to people")
        TAKEN_OVER = "taken_over", _("Taken over by an agent")

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="ai_bot_session", verbose_name=_("ticket")
    )
    agent = models.ForeignKey(
        AIAgent, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions", verbose_name=_("AI agent")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The latest customer message the bot consumed: each one is answered at most once.
    last_message_id = models.BigIntegerField(_("last message processed"), default=0)
    end_reason = models.CharField(_("why it ended"), max_length=40, blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("AI agent session")
        verbose_name_plural = _("AI agent sessions")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Bot session on ticket {self.ticket_id}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE
