from django.db import transaction
from django.utils.text import slugify

from tenants.models import Tenant


def _unique_slug(base: str) -> str:
    base = slugify(base)[:50] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def tenant_create(*, name: str, slug: str | None = None, **fields) -> Tenant:
    from crm.services_sales import pipeline_default_get_or_create
    from tenants.context import tenant_context

    tenant = Tenant.objects.create(name=name, slug=slug or _unique_slug(name), **fields)
    with tenant_context(tenant):
        pipeline_default_get_or_create(tenant=tenant)  # the board is never empty
    return tenant


SETTINGS_FIELDS = frozenset(
    {"timezone", "language", "business_hours", "auto_close_after_hours", "reopen_window_minutes", "rating_enabled"}
)


@transaction.atomic
def tenant_settings_update(*, tenant: Tenant, **changes) -> Tenant:
    """What a tenant's admins may change about their workspace (not its plan limits or slug)."""
    unknown = changes.keys() - SETTINGS_FIELDS
    if unknown:
        raise TypeError(f"not a tenant setting: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(tenant, name, value)
    tenant.full_clean(exclude=["slug", "name"])
    tenant.save(update_fields=sorted(changes))
    return tenant
