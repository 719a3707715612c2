from datetime import timedelta

import factory
from django.utils import timezone

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
from tenants.tests.factories import TenantOwnedFactory


class TagFactory(TenantOwnedFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag-{n}")


class ContactFieldDefinitionFactory(TenantOwnedFactory):
    class Meta:
        model = ContactFieldDefinition

    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.Sequence(lambda n: f"Field {n}")


class ContactFactory(TenantOwnedFactory):
    class Meta:
        model = Contact

    name = factory.Sequence(lambda n: f"Cliente {n}")
    phone = factory.Sequence(lambda n: f"55119{n:08d}")
    wa_id = factory.LazyAttribute(lambda contact: contact.phone)


class ContactImportFactory(TenantOwnedFactory):
    class Meta:
        model = ContactImport

    file = factory.django.FileField(filename="contacts.csv", data=b"name,phone\nAna,5511999990000\n")


# --- sales, agenda, escalations ---------------------------------------------------------------


class PipelineFactory(TenantOwnedFactory):
    class Meta:
        model = Pipeline

    name = factory.Sequence(lambda n: f"Pipeline {n}")


class StageFactory(TenantOwnedFactory):
    class Meta:
        model = Stage

    pipeline = factory.SubFactory(PipelineFactory, tenant=factory.SelfAttribute("..tenant"))
    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: n)


class DealLabelFactory(TenantOwnedFactory):
    class Meta:
        model = DealLabel

    name = factory.Sequence(lambda n: f"label-{n}")


class DealFactory(TenantOwnedFactory):
    class Meta:
        model = Deal

    title = factory.Sequence(lambda n: f"Deal {n}")
    stage = factory.SubFactory(StageFactory, tenant=factory.SelfAttribute("..tenant"))
    contact = factory.SubFactory(ContactFactory, tenant=factory.SelfAttribute("..tenant"))


class DealActivityFactory(TenantOwnedFactory):
    class Meta:
        model = DealActivity

    deal = factory.SubFactory(DealFactory, tenant=factory.SelfAttribute("..tenant"))
    type = DealActivity.Type.NOTE
    text = factory.Sequence(lambda n: f"Note number {n}")
    occurred_at = factory.LazyFunction(timezone.now)


class TaskFactory(TenantOwnedFactory):
    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Task {n}")
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    remind_at = factory.SelfAttribute("due_at")


class MeetingFactory(TenantOwnedFactory):
    class Meta:
        model = Meeting

    title = factory.Sequence(lambda n: f"Meeting {n}")
    contact = factory.SubFactory(ContactFactory, tenant=factory.SelfAttribute("..tenant"))
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))


class EscalationFactory(TenantOwnedFactory):
    class Meta:
        model = Escalation

    ticket = factory.SubFactory("tickets.tests.factories.TicketFactory", tenant=factory.SelfAttribute("..tenant"))
    reason = factory.Sequence(lambda n: f"Customer asks for a manager ({n})")
