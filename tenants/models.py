from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.context import get_current_tenant, require_current_tenant
from tenants.exceptions import TenantMismatch


class Tenant(models.Model):
    """A company using Prosa. Platform data: not itself tenant-owned."""

    class Language(models.TextChoices):
        PT_BR = "pt-br", "Português (Brasil)"
        EN = "en", "English"

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    timezone = models.CharField(_("timezone"), max_length=64, default="America/Sao_Paulo")
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.PT_BR)
    max_users = models.PositiveIntegerField(_("max users"), default=10, validators=[MinValueValidator(1)])
    max_connections = models.PositiveIntegerField(_("max WhatsApp connections"), default=3)
    max_ai_requests_per_month = models.PositiveIntegerField(_("max AI requests a month"), default=1000)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self) -> str:
        return self.name


class TenantScopedQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantScopedQuerySet)):
    """Default manager of tenant-owned models: filters by the current tenant, raises without one."""

    def get_queryset(self):
        tenant = require_current_tenant()
        return super().get_queryset().filter(tenant_id=tenant.pk)


class UnscopedManager(models.Manager):
    """Spans every tenant. For platform code only (migrations, superuser admin, fan-out jobs);
    each use is deliberate and named `all_tenants` so that it stands out in review."""


class TenantOwned(models.Model):
    """Base of every model that belongs to a tenant.

    `objects` (the default manager) is scoped to the current tenant and raises without one;
    `all_tenants` is the explicit way around it. Saving fills `tenant` from the context and refuses
    to write a row into a tenant other than the current one.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_index=True, verbose_name=_("tenant")
    )

    objects = TenantManager()
    all_tenants = UnscopedManager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        current = get_current_tenant()
        if self.tenant_id is None:
            self.tenant = require_current_tenant()
        elif current is not None and current.pk != self.tenant_id:
            raise TenantMismatch()
        super().save(*args, **kwargs)
