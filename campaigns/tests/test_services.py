"""Drafts, audience, variables and the lifecycle of campaigns (no sending here: see test_dispatch)."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.exceptions import CampaignInvalid, CampaignNotEditable, CampaignStateConflict
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from campaigns.tests.factories import MessageTemplateFactory
from crm.models import Contact
from crm.tests.factories import ContactFactory, TagFactory
from tenants.context import tenant_context
from whatsapp.models import MessageTemplate

WEEKDAYS_8_20 = {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
PARAMS = {"body": {"1": "{{first_name}}", "2": "{{city}}"}}


def _draft(tenant, connection, template=None, **fields):
    with tenant_context(tenant):
        return services.campaign_create(
            tenant=tenant,
            actor=None,
            name=fields.pop("name", "Black Friday"),
            connection=connection,
            template=template,
            template_params=fields.pop("template_params", PARAMS if template else {}),
            **fields,
        )


def _recipients(tenant, campaign):
    with tenant_context(tenant):
        return list(CampaignRecipient.objects.filter(campaign=campaign).select_related("contact").order_by("id"))


# --- variables -------------------------------------------------------------------------------


def test_render_for_contact_fills_builtins_and_custom_fields(tenant):
    contact = Contact(name="Maria Souza", phone="5511987650001", custom_fields={"city": "Santos", "n": 3})
    variables = services.contact_variables(contact)
    text = "{{first_name}} ({{name}}, {{phone}}) em {{city}} #{{n}}"
    assert services.render_for_contact(text, variables) == "Maria (Maria Souza, +5511987650001) em Santos #3"


def test_a_missing_variable_names_itself(tenant):
    contact = Contact(name="Maria", custom_fields={})
    with pytest.raises(services.MissingVariable) as caught:
        services.render_for_contact("Olá {{name}} de {{city}}", services.contact_variables(contact))
    assert caught.value.name == "city"


def test_schedule_marks_recipients_without_a_value_failed_with_the_reason(
    tenant, template, vip, vip_contacts, no_eager
):
    without_city = ContactFactory(tenant=tenant, name="Sem Cidade", custom_fields={})
    without_city.tags.add(vip)
    campaign = _draft(tenant, template.connection, template)
    with tenant_context(tenant):
        campaign.audience_tags.set([vip])
        counts = services.campaign_schedule(campaign=campaign)
    assert counts == {"recipients": 6, "missing_variables": 1}
    rows = {r.contact_id: r for r in _recipients(tenant, campaign)}
    failed = rows[without_city.pk]
    assert (failed.status, failed.error_code) == (RecipientStatus.FAILED, "missing_variable")
    assert failed.error_reason == "This contact has no value for {{city}}."
    assert rows[vip_contacts[0].pk].payload == {"values": {"body": {"1": "Cliente", "2": "Santos"}}}
    assert rows[vip_contacts[0].pk].status == RecipientStatus.PENDING


def test_schedule_refuses_unknown_variables_and_uncovered_placeholders(tenant, template, vip_contacts):
    campaign = _draft(tenant, template.connection, template, template_params={"body": {"1": "{{nickname}}"}})
    with tenant_context(tenant), pytest.raises(CampaignInvalid) as caught:
        campaign.audience_contacts.set(vip_contacts)
        services.campaign_schedule(campaign=campaign)
    assert caught.value.fields == {
        "template_params": ["Give a value for {{2}} in the body."],
        "variables": ["Unknown variables: {{nickname}}. Use name, first_name, phone, email or a contact field key."],
    }
    with tenant_context(tenant):
        assert CampaignRecipient.objects.count() == 0
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_only_approved_templates_of_the_connection_can_be_sent(tenant, template, vip_contacts):
    pending = MessageTemplateFactory(
        tenant=tenant, connection=template.connection, status=MessageTemplate.Status.PENDING
    )
    campaign = _draft(tenant, template.connection, pending)
    with tenant_context(tenant), pytest.raises(CampaignInvalid) as caught:
        campaign.audience_contacts.set(vip_contacts)
        services.campaign_schedule(campaign=campaign)
    assert caught.value.fields["template"] == ["Only templates approved by WhatsApp can be sent."]


def test_cloud_campaigns_need_a_template(tenant, cloud_connection, vip_contacts):
    campaign = _draft(tenant, cloud_connection, text_variations=["Oi {{name}}"])
    with tenant_context(tenant), pytest.raises(CampaignInvalid) as caught:
        services.campaign_validate(campaign=campaign)
    assert list(caught.value.fields) == ["template"]


# --- audience --------------------------------------------------------------------------------


def test_audience_is_the_union_of_tags_contacts_and_filter_without_opted_out(tenant, cloud_connection):
    vip, other = TagFactory(tenant=tenant, name="vip"), TagFactory(tenant=tenant, name="other")
    tagged = ContactFactory(tenant=tenant, name="Tagged")
    tagged.tags.add(vip, other)  # two matching joins: still one recipient
    explicit = ContactFactory(tenant=tenant, name="Explicit")
    ContactFactory(tenant=tenant, name="Filtered", custom_fields={"plan": "gold"})
    opted_out = ContactFactory(tenant=tenant, name="Opted out", opted_out=True)
    opted_out.tags.add(vip)
    ContactFactory(tenant=tenant, name="Nobody")
    campaign = _draft(
        tenant, cloud_connection, text_variations=["Oi"], audience_filter={"custom_fields": {"plan": "gold"}}
    )
    with tenant_context(tenant):
        campaign.audience_tags.set([vip, other])
        campaign.audience_contacts.set([explicit, opted_out])
        names = sorted(c.name for c in services.audience_queryset(campaign=campaign))
    assert names == ["Explicit", "Filtered", "Tagged"]


def test_an_unknown_filter_key_is_refused(tenant, cloud_connection):
    campaign = _draft(tenant, cloud_connection, text_variations=["Oi"], audience_filter={"city": "SP"})
    with tenant_context(tenant), pytest.raises(CampaignInvalid):
        list(services.audience_queryset(campaign=campaign))


def test_csv_audience_matches_existing_contacts_and_creates_the_others(tenant, cloud_connection):
    existing = ContactFactory(tenant=tenant, name="Já Cliente", phone="5511987650001", wa_id="5511987650001")
    campaign = _draft(tenant, cloud_connection, text_variations=["Oi"])
    csv_file = io.BytesIO(
        "nome;telefone\nOutro Nome;(11) 98765-0001\nNova Pessoa;+55 11 91234-5678\nSem número;abc\n".encode()
    )
    with tenant_context(tenant):
        result = services.campaign_audience_import(campaign=campaign, file=csv_file)
        members = {c.pk: c for c in campaign.audience_contacts.all()}
    assert result == {"rows": 3, "added": 2, "created": 1, "errors": [{"row": 4, "detail": "Not a phone number: abc"}]}
    assert existing.pk in members and members[existing.pk].name == "Já Cliente"  # never renamed
    new = next(c for pk, c in members.items() if pk != existing.pk)
    assert (new.name, new.phone, new.wa_id) == ("Nova Pessoa", "5511912345678", "5511912345678")


# --- lifecycle -------------------------------------------------------------------------------


def test_lifecycle_transitions_and_refusals(tenant, template, vip_contacts, no_eager):
    campaign = _draft(tenant, template.connection, template)
    later = timezone.now() + timedelta(hours=2)
    with tenant_context(tenant):
        campaign.audience_contacts.set(vip_contacts)
        with pytest.raises(CampaignStateConflict):
            services.campaign_pause(campaign=campaign)
        services.campaign_schedule(campaign=campaign, at=later)
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED
        with pytest.raises(CampaignNotEditable):
            services.campaign_update(campaign=campaign, name="Renamed")
        with pytest.raises(CampaignStateConflict):
            services.campaign_schedule(campaign=campaign)
        assert services.campaign_pause(campaign=campaign).status == CampaignStatus.PAUSED
        # Resumed before its time: back to waiting for it.
        assert services.campaign_resume(campaign=campaign).status == CampaignStatus.SCHEDULED
        assert services.campaign_start_if_due(campaign_id=campaign.pk) is False
        assert services.campaign_start_if_due(campaign_id=campaign.pk, now=later) is True
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING
        cancelled = services.campaign_cancel(campaign=campaign)
        assert cancelled.status == CampaignStatus.CANCELLED and cancelled.finished_at is not None
        with pytest.raises(CampaignStateConflict):
            services.campaign_resume(campaign=campaign)
        assert CampaignRecipient.objects.filter(status=RecipientStatus.PENDING).count() == 5


def test_an_empty_audience_cannot_be_scheduled(tenant, template, city_field):
    ContactFactory(tenant=tenant, opted_out=True)
    campaign = _draft(tenant, template.connection, template)
    with tenant_context(tenant), pytest.raises(CampaignInvalid) as caught:
        campaign.audience_contacts.set(Contact.objects.all())
        services.campaign_schedule(campaign=campaign)
    assert list(caught.value.fields) == ["audience"]


# --- the sending window ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # São Paulo is UTC-3. Monday 10:00 local: open now.
        (datetime(2026, 11, 30, 13, 0, tzinfo=UTC), datetime(2026, 11, 30, 13, 0, tzinfo=UTC)),
        # Monday 21:00 local: Tuesday 08:00.
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), datetime(2026, 12, 1, 11, 0, tzinfo=UTC)),
        # Friday 20:00 local (the end is excluded): Monday 08:00.
        (datetime(2026, 12, 4, 23, 0, tzinfo=UTC), datetime(2026, 12, 7, 11, 0, tzinfo=UTC)),
        # Sunday 07:00 local: Monday 08:00.
        (datetime(2026, 12, 6, 10, 0, tzinfo=UTC), datetime(2026, 12, 7, 11, 0, tzinfo=UTC)),
    ],
)
def test_window_next_open_in_the_tenants_timezone(now, expected):
    assert services.window_next_open(WEEKDAYS_8_20, "America/Sao_Paulo", now) == expected


def test_a_window_that_never_opens_has_no_next_opening():
    assert services.window_next_open({"mon": []}, "America/Sao_Paulo", datetime(2026, 11, 30, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("text", "stop"), [("SAIR", True), (" sair. ", True), ("Parar!", True), ("stop", True), ("Cancelar", True),
                       ("quero sair da lista?", False), ("oi", False), ("", False)]
)  # fmt: skip
def test_stop_words(text, stop):
    assert services.is_stop_word(text) is stop
