"""One factory per tenant-owned model, for the cross-tenant sweeps (API, admin).

`build(model, tenant)` saves one object of `model` in `tenant`; `build_all(tenant)` one of every
registered model. tests/test_isolation.py fails while a concrete TenantOwned model has no factory
here, so a new model registers one and is swept by every isolation test from then on.

Factories write through `all_tenants` (see TenantOwnedFactory), so they need no tenant in context.
"""

import itertools
from collections.abc import Callable
from datetime import timedelta

from django.apps import apps
from django.db import models
from django.utils import timezone

from accounts.models import Invite, Membership, Role, User
from accounts.tests.factories import InviteFactory, MembershipFactory, UserFactory
from ai.models import AIAgent, AISettings, AIUsage, BotSession, DealQualification, MessageTranscript, TicketInsight
from ai.tests.factories import (
    AIAgentFactory,
    AISettingsFactory,
    AIUsageFactory,
    BotSessionFactory,
    DealQualificationFactory,
    MessageTranscriptFactory,
    TicketInsightFactory,
)
from campaigns.models import Campaign, CampaignRecipient
from campaigns.tests.factories import CampaignFactory, CampaignRecipientFactory, MessageTemplateFactory
from crm.models import (
    Contact,
    ContactFieldDefinition,
    ContactImport,
    Deal,
    DealActivity,
    DealLabel,
    Escalation,
    Meeting,
    Pipeline,
    Stage,
    Tag,
    Task,
)
from crm.tests.factories import (
    ContactFactory,
    ContactFieldDefinitionFactory,
    ContactImportFactory,
    DealActivityFactory,
    DealFactory,
    DealLabelFactory,
    EscalationFactory,
    MeetingFactory,
    PipelineFactory,
    StageFactory,
    TagFactory,
    TaskFactory,
)
from flows.models import Flow, FlowRun, FlowTrace, FlowVersion
from flows.tests.factories import FlowFactory, FlowRunFactory, FlowTraceFactory, FlowVersionFactory
from knowledge.models import Article, ArticleChunk, ArticleProposal, ArticleVersion, Term
from knowledge.tests.factories import (
    ArticleChunkFactory,
    ArticleFactory,
    ArticleProposalFactory,
    ArticleVersionFactory,
    TermFactory,
)
from tenants.models import Tenant, TenantOwned
from tickets.models import (
    Message,
    MessageWord,
    Queue,
    QuickReply,
    ScheduledMessage,
    TenantSequence,
    Ticket,
    TicketEvent,
)
from tickets.tests.factories import (
    MessageFactory,
    QueueFactory,
    QuickReplyFactory,
    ScheduledMessageFactory,
    TenantSequenceFactory,
    TicketEventFactory,
    TicketFactory,
)
from whatsapp.models import Connection, InboundEvent, MessageTemplate
from whatsapp.tests.factories import ConnectionFactory, InboundEventFactory

Factory = Callable[[Tenant], models.Model]

FACTORIES: dict[type[models.Model], Factory] = {}


def register(model: type[models.Model]) -> Callable[[Factory], Factory]:
    def decorator(factory: Factory) -> Factory:
        assert model not in FACTORIES, f"{model._meta.label} registered twice"
        FACTORIES[model] = factory
        return factory

    return decorator


def tenant_owned_models() -> list[type[models.Model]]:
    """Every concrete tenant-owned model of the project (proxies count as their concrete model)."""
    found = {
        model._meta.concrete_model
        for model in apps.get_models()
        if issubclass(model, TenantOwned) and not model._meta.abstract
    }
    return sorted(found, key=lambda model: model._meta.label)


def build(model: type[models.Model], tenant: Tenant) -> models.Model:
    try:
        factory = FACTORIES[model._meta.concrete_model]
    except KeyError:
        raise LookupError(f"No factory for {model._meta.label}: register one in tests/registry.py") from None
    obj = factory(tenant)
    assert obj.tenant_id == tenant.pk, f"the factory of {model._meta.label} built a row of another tenant"
    return obj


def build_all(tenant: Tenant) -> dict[type[models.Model], models.Model]:
    """One object of every registered model. A model without a factory fails one test
    (test_every_tenant_owned_model_has_a_factory), not every sweep."""
    return {model: build(model, tenant) for model in tenant_owned_models() if model in FACTORIES}


def tenant_markers(tenant: Tenant, objects: dict) -> frozenset[str]:
    """Distinctive strings of a tenant's data (names, e-mails…) that must never reach another one:
    its name and slug, free-text values of its rows (6+ characters, no choices) and the names and
    e-mails of the people its rows point at."""
    values = {tenant.name, tenant.slug}
    for obj in objects.values():
        for field in obj._meta.concrete_fields:
            value = getattr(obj, field.attname)
            if field.is_relation and field.related_model is User and value is not None:
                person = User.objects.get(pk=value)
                values |= {person.email, person.name}
            elif isinstance(field, models.CharField | models.TextField) and not field.choices:
                if isinstance(value, str) and len(value) >= 6:
                    values.add(value)
    return frozenset(values)


def tenant_snapshot(tenant: Tenant) -> dict:
    """Every row of the tenant (and of its people), to prove that a request wrote nothing there."""
    rows = {
        model._meta.label: list(model.all_tenants.filter(tenant=tenant).order_by("pk").values())
        for model in tenant_owned_models()
    }
    rows["users"] = list(User.objects.filter(memberships__tenant=tenant).distinct().order_by("pk").values())
    rows["tenant"] = list(Tenant.objects.filter(pk=tenant.pk).values())
    return rows


# --- accounts ------------------------------------------------------------------


@register(Membership)
def _membership(tenant: Tenant) -> Membership:
    # A person who belongs to this tenant only: users/{pk} addresses people through memberships.
    user = UserFactory(name=f"Member of {tenant.slug}", email=f"member-{tenant.slug}@example.com")
    return MembershipFactory(tenant=tenant, user=user, role=Role.AGENT)


@register(Invite)
def _invite(tenant: Tenant) -> Invite:
    return InviteFactory(tenant=tenant, email=f"invitee-{tenant.slug}@example.com", role=Role.SUPERVISOR)


# --- whatsapp ------------------------------------------------------------------


@register(Connection)
def _connection(tenant: Tenant) -> Connection:
    # waba_id is a constant of the factory: a per-tenant value keeps it a true marker of the tenant.
    return ConnectionFactory(tenant=tenant, name=f"WhatsApp of {tenant.slug}", waba_id=f"waba-of-{tenant.slug}")


@register(InboundEvent)
def _inbound_event(tenant: Tenant) -> InboundEvent:
    return InboundEventFactory(
        tenant=tenant, connection=ConnectionFactory(tenant=tenant, name=f"Inbox of {tenant.slug}")
    )


# --- crm ----------------------------------------------------------------------
@register(Tag)
def _tag(tenant: Tenant) -> Tag:
    # The default color is shared by every tenant's tags: a per-tenant one keeps markers distinctive.
    return TagFactory(tenant=tenant, name=f"vip-{tenant.slug}", color=f"#{tenant.pk % 0xFFFFFF:06x}")


@register(ContactFieldDefinition)
def _contact_field(tenant: Tenant) -> ContactFieldDefinition:
    return ContactFieldDefinitionFactory(tenant=tenant, label=f"CPF of {tenant.slug}")


@register(Contact)
def _contact(tenant: Tenant) -> Contact:
    return ContactFactory(tenant=tenant, name=f"Customer of {tenant.slug}")


@register(ContactImport)
def _contact_import(tenant: Tenant) -> ContactImport:
    return ContactImportFactory(tenant=tenant)


# --- crm: sales, agenda, escalations -------------------------------------------------
def _color_of(tenant: Tenant) -> str:
    # The default colour is shared by every tenant's rows: a per-tenant one keeps markers distinctive.
    return f"#{tenant.pk % 0xFFFFFF:06x}"


@register(Pipeline)
def _pipeline(tenant: Tenant) -> Pipeline:
    return PipelineFactory(tenant=tenant, name=f"Funnel of {tenant.slug}")


@register(Stage)
def _stage(tenant: Tenant) -> Stage:
    return StageFactory(
        tenant=tenant,
        pipeline=PipelineFactory(tenant=tenant, name=f"Stages of {tenant.slug}"),
        name=f"Stage of {tenant.slug}",
        color=_color_of(tenant),
    )


@register(DealLabel)
def _deal_label(tenant: Tenant) -> DealLabel:
    return DealLabelFactory(tenant=tenant, name=f"hot-{tenant.slug}", color=_color_of(tenant))


def _deal_in(tenant: Tenant) -> Deal:
    stage = StageFactory(
        tenant=tenant,
        pipeline=PipelineFactory(tenant=tenant, name=f"Deals of {tenant.slug}"),
        name=f"Deal stage of {tenant.slug}",
        color=_color_of(tenant),
    )
    return DealFactory(tenant=tenant, stage=stage, contact=_contact(tenant), title=f"Deal of {tenant.slug}")


@register(Deal)
def _deal(tenant: Tenant) -> Deal:
    return _deal_in(tenant)


@register(DealActivity)
def _deal_activity(tenant: Tenant) -> DealActivity:
    return DealActivityFactory(tenant=tenant, deal=_deal_in(tenant), text=f"Call notes of {tenant.slug}")


@register(Task)
def _task(tenant: Tenant) -> Task:
    # Overdue: it shows in /tasks/overdue as well as in /tasks.
    due_at = timezone.now() - timedelta(hours=1)
    return TaskFactory(tenant=tenant, title=f"Follow up for {tenant.slug}", due_at=due_at)


@register(Meeting)
def _meeting(tenant: Tenant) -> Meeting:
    return MeetingFactory(tenant=tenant, title=f"Demo for {tenant.slug}", contact=_contact(tenant))


@register(Escalation)
def _escalation(tenant: Tenant) -> Escalation:
    return EscalationFactory(tenant=tenant, ticket=_ticket_in(tenant), reason=f"Help with {tenant.slug}")


# --- tickets --------------------------------------------------------------------
@register(TenantSequence)
def _sequence(tenant: Tenant) -> TenantSequence:
    return TenantSequenceFactory(tenant=tenant)


@register(Queue)
def _queue(tenant: Tenant) -> Queue:
    # A colour of its own: the default one would be a "marker" shared by every tenant.
    return QueueFactory(tenant=tenant, name=f"Support of {tenant.slug}", color=f"#{tenant.pk % 0xFFFFFF:06x}")


def _ticket_in(tenant: Tenant) -> Ticket:
    return TicketFactory(tenant=tenant, contact=_contact(tenant), connection=ConnectionFactory(tenant=tenant))


@register(Ticket)
def _ticket(tenant: Tenant) -> Ticket:
    return _ticket_in(tenant)


@register(Message)
def _message(tenant: Tenant) -> Message:
    return MessageFactory(tenant=tenant, ticket=_ticket_in(tenant), text=f"Message for {tenant.slug}")


@register(MessageWord)
def _message_word(tenant: Tenant) -> MessageWord:
    """Written by the database's trigger when a message is (tickets 0008), never by Python."""
    message = _message(tenant)
    return MessageWord.all_tenants.filter(tenant_id=tenant.pk, message_id=message.pk).order_by("word").last()


@register(TicketEvent)
def _ticket_event(tenant: Tenant) -> TicketEvent:
    return TicketEventFactory(tenant=tenant, ticket=_ticket_in(tenant))


@register(QuickReply)
def _quick_reply(tenant: Tenant) -> QuickReply:
    return QuickReplyFactory(tenant=tenant, text=f"Canned answer of {tenant.slug}")


@register(ScheduledMessage)
def _scheduled_message(tenant: Tenant) -> ScheduledMessage:
    return ScheduledMessageFactory(tenant=tenant, ticket=_ticket_in(tenant), text=f"Reminder for {tenant.slug}")


# --- campaigns and message templates ------------------------------------------------
@register(MessageTemplate)
def _message_template(tenant: Tenant) -> MessageTemplate:
    connection = ConnectionFactory(tenant=tenant, name=f"Templates of {tenant.slug}")
    return MessageTemplateFactory(tenant=tenant, connection=connection, name=f"offer_of_{tenant.slug}")


@register(Campaign)
def _campaign(tenant: Tenant) -> Campaign:
    connection = ConnectionFactory(tenant=tenant, name=f"Campaigns of {tenant.slug}")
    return CampaignFactory(tenant=tenant, connection=connection, name=f"Campaign of {tenant.slug}")


@register(CampaignRecipient)
def _campaign_recipient(tenant: Tenant) -> CampaignRecipient:
    connection = ConnectionFactory(tenant=tenant, name=f"Mailings of {tenant.slug}")
    campaign = CampaignFactory(tenant=tenant, connection=connection, name=f"Mailing of {tenant.slug}")
    return CampaignRecipientFactory(tenant=tenant, campaign=campaign, contact=_contact(tenant))


# --- knowledge base ------------------------------------------------------------------------
def _article_in(tenant: Tenant, what: str) -> Article:
    return ArticleFactory(
        tenant=tenant,
        title=f"{what} of {tenant.slug}",
        body=f"How {tenant.slug} handles {what.lower()}.",
        category=f"Help of {tenant.slug}",
        tags=[f"faq-{tenant.slug}"],
    )


@register(Article)
def _article(tenant: Tenant) -> Article:
    return _article_in(tenant, "Delivery")


@register(ArticleVersion)
def _article_version(tenant: Tenant) -> ArticleVersion:
    article = _article_in(tenant, "Returns")
    return ArticleVersionFactory(tenant=tenant, article=article, title=f"Old returns of {tenant.slug}")


@register(ArticleChunk)
def _article_chunk(tenant: Tenant) -> ArticleChunk:
    return ArticleChunkFactory(tenant=tenant, article=_article_in(tenant, "Invoices"))


@register(Term)
def _term(tenant: Tenant) -> Term:
    return TermFactory(tenant=tenant, word=f"term{tenant.slug}")


@register(ArticleProposal)
def _article_proposal(tenant: Tenant) -> ArticleProposal:
    proposal = ArticleProposalFactory(
        tenant=tenant,
        article=_article_in(tenant, "Warranty"),
        title=f"Clearer warranty of {tenant.slug}",
        body=f"How {tenant.slug} honours warranties, step by step.",
        reason=f"Shorter sentences for {tenant.slug}",
        model=f"model-of-{tenant.slug}",
    )
    ticket = _ticket_in(tenant)
    ArticleProposal.source_tickets.through.objects.create(articleproposal=proposal, ticket=ticket)
    return proposal


# --- ai -------------------------------------------------------------------------------------
@register(AISettings)
def _ai_settings(tenant: Tenant) -> AISettings:
    # Switched off: the sweep's control calls answer 409 `ai_not_configured` instead of calling out.
    return AISettingsFactory(
        tenant=tenant,
        base_url=f"https://llm-of-{tenant.slug}.example.com/v1",
        api_key=f"sk-key-of-{tenant.slug}",
        chat_model=f"chat-model-of-{tenant.slug}",
        ticket_categories=[f"Billing of {tenant.slug}"],
        enabled=False,
    )


@register(AIAgent)
def _ai_agent(tenant: Tenant) -> AIAgent:
    return AIAgentFactory(tenant=tenant, name=f"Bot of {tenant.slug}", instructions=f"Persona of {tenant.slug}")


@register(BotSession)
def _bot_session(tenant: Tenant) -> BotSession:
    return BotSessionFactory(tenant=tenant, ticket=_ticket_in(tenant), agent=_ai_agent(tenant))


@register(AIUsage)
def _ai_usage(tenant: Tenant) -> AIUsage:
    return AIUsageFactory(tenant=tenant, model=f"model-of-{tenant.slug}", ticket=_ticket_in(tenant))


@register(TicketInsight)
def _ticket_insight(tenant: Tenant) -> TicketInsight:
    return TicketInsightFactory(
        tenant=tenant,
        ticket=_ticket_in(tenant),
        summary=f"Summary of {tenant.slug}",
        category=f"Billing of {tenant.slug}",
    )


@register(MessageTranscript)
def _message_transcript(tenant: Tenant) -> MessageTranscript:
    message = MessageFactory(tenant=tenant, ticket=_ticket_in(tenant), type="voice", text="")
    return MessageTranscriptFactory(
        tenant=tenant, message=message, text=f"Voice note of {tenant.slug}", model=f"whisper-of-{tenant.slug}"
    )


@register(DealQualification)
def _deal_qualification(tenant: Tenant) -> DealQualification:
    return DealQualificationFactory(tenant=tenant, deal=_deal_in(tenant), model=f"model-of-{tenant.slug}")


# --- flows ----------------------------------------------------------------------------------
_flow_numbers = itertools.count(1)


def _flow_in(tenant: Tenant) -> Flow:
    name = f"Bot {next(_flow_numbers)} of {tenant.slug}"
    flow = FlowFactory(tenant=tenant, name=name, description=f"Greets {tenant.slug}")
    version = FlowVersionFactory(tenant=tenant, flow=flow, number=1)
    flow.published_version = version
    flow.save(update_fields=["published_version"])
    return flow


@register(Flow)
def _flow(tenant: Tenant) -> Flow:
    return _flow_in(tenant)


@register(FlowVersion)
def _flow_version(tenant: Tenant) -> FlowVersion:
    return _flow_in(tenant).published_version


def _flow_run_in(tenant: Tenant) -> FlowRun:
    flow = _flow_in(tenant)
    return FlowRunFactory(
        tenant=tenant, ticket=_ticket_in(tenant), flow=flow, flow_version=flow.published_version,
        variables={"order": f"order-of-{tenant.slug}"}, error=f"Trace of {tenant.slug}",
    )  # fmt: skip


@register(FlowRun)
def _flow_run(tenant: Tenant) -> FlowRun:
    return _flow_run_in(tenant)


@register(FlowTrace)
def _flow_trace(tenant: Tenant) -> FlowTrace:
    return FlowTraceFactory(
        tenant=tenant, run=_flow_run_in(tenant), node_id=f"node-{tenant.slug}", node_type=f"step-of-{tenant.slug}"
    )
