import factory

from campaigns.models import Campaign, CampaignRecipient
from crm.tests.factories import ContactFactory
from tenants.tests.factories import TenantOwnedFactory
from whatsapp.models import MessageTemplate
from whatsapp.templates import template_variables
from whatsapp.tests.factories import ConnectionFactory

BODY = [
    {"type": "BODY", "text": "Olá {{1}}, sua loja em {{2}} tem ofertas!", "example": {"body_text": [["Ana", "SP"]]}}
]


class MessageTemplateFactory(TenantOwnedFactory):
    class Meta:
        model = MessageTemplate

    connection = factory.SubFactory(ConnectionFactory, tenant=factory.SelfAttribute("..tenant"))
    name = factory.Sequence(lambda n: f"oferta_{n}")
    language = "pt_BR"
    category = MessageTemplate.Category.MARKETING
    status = MessageTemplate.Status.APPROVED
    components = BODY
    variables = factory.LazyAttribute(lambda o: template_variables(o.components))


class CampaignFactory(TenantOwnedFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campanha {n}")
    connection = factory.SubFactory(ConnectionFactory, tenant=factory.SelfAttribute("..tenant"))


class CampaignRecipientFactory(TenantOwnedFactory):
    class Meta:
        model = CampaignRecipient

    campaign = factory.SubFactory(CampaignFactory, tenant=factory.SelfAttribute("..tenant"))
    contact = factory.SubFactory(ContactFactory, tenant=factory.SelfAttribute("..tenant"))
    to = factory.SelfAttribute("contact.wa_id")
