import factory

from crm.models import Contact, ContactFieldDefinition, ContactImport, Tag
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
