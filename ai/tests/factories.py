import factory
from django.utils import timezone

from ai.models import (
    AIAgent,
    AISettings,
    AIUsage,
    BotSession,
    DealQualification,
    Feature,
    MessageTranscript,
    TicketInsight,
)
from crm.tests.factories import DealFactory
from tenants.tests.factories import TenantOwnedFactory
from tickets.tests.factories import MessageFactory, TicketFactory


class AISettingsFactory(TenantOwnedFactory):
    class Meta:
        model = AISettings

    preset = "custom"
    base_url = "https://llm.example.com/v1"
    api_key = "sk-factory-key"
    chat_model = "gpt-4o-mini"


class AIUsageFactory(TenantOwnedFactory):
    class Meta:
        model = AIUsage

    feature = Feature.SUMMARIZE
    model = "gpt-4o-mini"
    prompt_tokens = 100
    completion_tokens = 20
    latency_ms = 150


class TicketInsightFactory(TenantOwnedFactory):
    class Meta:
        model = TicketInsight

    ticket = factory.SubFactory(TicketFactory, tenant=factory.SelfAttribute("..tenant"))
    summary = factory.Sequence(lambda n: f"- The customer asked about order {n}.")
    summarized_at = factory.LazyFunction(timezone.now)
    sentiment = TicketInsight.Sentiment.NEUTRAL


class MessageTranscriptFactory(TenantOwnedFactory):
    class Meta:
        model = MessageTranscript

    message = factory.SubFactory(MessageFactory, tenant=factory.SelfAttribute("..tenant"), type="voice", text="")
    text = factory.Sequence(lambda n: f"Transcribed voice note {n}")
    model = "whisper-1"


class DealQualificationFactory(TenantOwnedFactory):
    class Meta:
        model = DealQualification

    deal = factory.SubFactory(DealFactory, tenant=factory.SelfAttribute("..tenant"))
    evidence = factory.LazyFunction(lambda: {"need": {"value": "A CRM", "quote": "we need a CRM"}})
    model = "gpt-4o-mini"


class AIAgentFactory(TenantOwnedFactory):
    class Meta:
        model = AIAgent

    name = factory.Sequence(lambda n: f"Bot {n}")
    instructions = "You are Lia, a friendly assistant."
    language = "pt-br"


class BotSessionFactory(TenantOwnedFactory):
    class Meta:
        model = BotSession

    ticket = factory.SubFactory(TicketFactory, tenant=factory.SelfAttribute("..tenant"), is_bot=True)
    agent = factory.SubFactory(AIAgentFactory, tenant=factory.SelfAttribute("..tenant"), answers_new_tickets=True)
