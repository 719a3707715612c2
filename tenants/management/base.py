from django.core.management.base import BaseCommand, CommandError

from tenants.context import tenant_context
from tenants.selectors import tenant_get_by_slug


class TenantCommand(BaseCommand):
    """A management command that works inside one tenant, named with `--tenant <slug>`.

    Subclasses implement `handle_tenant(tenant, **options)`; the context is always reset after.
    """

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Slug of the tenant to work in.")

    def handle(self, *args, **options):
        slug = options.pop("tenant")
        tenant = tenant_get_by_slug(slug=slug)
        if tenant is None:
            raise CommandError(f"No active tenant with slug {slug!r}.")
        with tenant_context(tenant):
            return self.handle_tenant(tenant, *args, **options)

    def handle_tenant(self, tenant, *args, **options):
        raise NotImplementedError
