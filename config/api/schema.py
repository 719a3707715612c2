from drf_spectacular.generators import SchemaGenerator

from tenants.context import tenant_context
from tenants.models import Tenant


class TenantlessSchemaGenerator(SchemaGenerator):
    """Generates the OpenAPI schema inside a sentinel tenant that owns no rows.

    Introspection (drf-spectacular, django-filter) touches views' querysets and default managers,
    which rightly refuse to run without a tenant. The sentinel (pk 0, never saved) makes them
    resolve to empty querysets, so the schema needs no tenant and reveals none.
    """

    def get_schema(self, *args, **kwargs):
        with tenant_context(Tenant(pk=0, name="openapi-schema", slug="openapi-schema")):
            return super().get_schema(*args, **kwargs)
