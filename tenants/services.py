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
    return Tenant.objects.create(name=name, slug=slug or _unique_slug(name), **fields)
