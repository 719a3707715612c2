import factory

from tenants.models import Tenant


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")


class TenantOwnedFactory(factory.django.DjangoModelFactory):
    """Base for factories of tenant-owned models. Writes through the explicit unscoped manager so
    tests can build any tenant's data without entering it; `tenant` defaults to the shared one."""

    class Meta:
        abstract = True

    tenant = factory.LazyFunction(lambda: TenantFactory(slug="shared", name="Shared Co"))

    @classmethod
    def _get_manager(cls, model_class):
        return model_class.all_tenants
