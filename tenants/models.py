import functools
from contextlib import nullcontext

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Value
from django.utils.translation import gettext_lazy as _

from tenants.context import get_current_tenant, require_current_tenant, tenant_context
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

    # --- Conversation settings (tenant admins edit these)
    # {"mon": [["08:00", "18:00"]], ..., "sun": []} in `timezone`; empty = always open.
    business_hours = models.JSONField(_("business hours"), default=dict, blank=True)
    auto_close_after_hours = models.PositiveIntegerField(_("close idle tickets after (hours, 0 = never)"), default=0)
    reopen_window_minutes = models.PositiveIntegerField(
        _("a message this soon after closing reopens the ticket (minutes, 0 = always a new ticket)"), default=0
    )
    rating_enabled = models.BooleanField(_("ask for a satisfaction rating on close"), default=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from tenants.hours import business_hours_validate

        try:
            business_hours_validate(self.business_hours)
        except ValidationError as exc:
            raise ValidationError({"business_hours": exc.messages}) from None


_TENANT_FIELDS = {"tenant", "tenant_id"}


def _ensure_current_tenant(tenant_id) -> None:
    """Refuses a write that would put a row into a tenant other than the current one."""
    if tenant_id != require_current_tenant().pk:
        raise TenantMismatch()


class TenantScopedQuerySet(models.QuerySet):
    """Bulk writes skip `Model.save()`; they keep its rule: rows go into the current tenant only."""

    def bulk_create(self, objs, *args, **kwargs):
        tenant = require_current_tenant()
        objs = list(objs)
        for obj in objs:
            if obj.tenant_id is None:
                obj.tenant = tenant
            else:
                _ensure_current_tenant(obj.tenant_id)
        return super().bulk_create(objs, *args, **kwargs)

    def update(self, **kwargs):
        # Moving rows to another tenant is never a scoped operation.
        for field in _TENANT_FIELDS & kwargs.keys():
            value = kwargs[field]
            _ensure_current_tenant(value.pk if isinstance(value, Tenant) else value)
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        # Checked before Django opens its transaction, so a refusal leaves the caller's intact.
        objs = list(objs)
        if _TENANT_FIELDS & set(fields):
            for obj in objs:
                _ensure_current_tenant(obj.tenant_id)
            # Every row is already in the current tenant (the queryset is scoped): nothing to move.
            fields = [field for field in fields if field not in _TENANT_FIELDS]
            if not fields:
                return 0
        return super().bulk_update(objs, fields, *args, **kwargs)


class TenantIdValue(Value):
    """The tenant id as the SQL of the tenant filter compares it: typed as its column (bigint).
    A plain integer constant is an int4, and for a GIN index whose first column is the tenant
    (btree_gin: crm 0005, tickets 0007) int4 = int8 is not an indexable comparison: PostgreSQL
    then reads every tenant's matches and filters them (the message search read 21k rows for
    the tenant's 12.8k). B-tree indexes accept either.

    `Cast(Value(id), BigIntegerField())` wrote the same SQL, but every tenant-scoped query built
    a field and copied two expressions to resolve it — a third of the cost of `Model.objects.all()`.
    This constant is immutable, so it resolves to itself."""

    _output = models.BigIntegerField()

    def __init__(self, tenant_id: int):
        super().__init__(tenant_id, output_field=self._output)

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        return self

    def as_sql(self, compiler, connection):
        return "(%s)::bigint", [self.value]


def tenant_id_value(tenant_id: int) -> TenantIdValue:
    return TenantIdValue(tenant_id)


@functools.lru_cache(maxsize=1024)
def _tenant_queryset(queryset_class, model, tenant_id: int) -> models.QuerySet:
    """A model's rows of one tenant, as a queryset that is only ever cloned (never evaluated):
    cloning it costs a sixth of building the tenant filter again (~15 vs ~90 µs), for every query
    of every request and task."""
    return queryset_class(model=model).filter(tenant_id=tenant_id_value(tenant_id))


class TenantManager(models.Manager.from_queryset(TenantScopedQuerySet)):
    """Default manager of tenant-owned models: filters by the current tenant, raises without one."""

    def get_queryset(self):
        tenant = require_current_tenant()
        if self._db is None and not self._hints:
            queryset = _tenant_queryset(self._queryset_class, self.model, tenant.pk)._chain()
            queryset._known_related_objects = {}  # clones share it, and `|` updates it in place
            return queryset
        # A related manager (its instance as a hint) or one bound to a database: built each time.
        return super().get_queryset().filter(tenant_id=tenant_id_value(tenant.pk))

    def none(self):
        # An empty queryset holds no tenant's rows, so it needs no tenant (schema generation,
        # form field defaults); anything that could return rows still fails closed.
        return super().get_queryset().none()


class UnscopedManager(models.Manager):
    """Spans every tenant. For platform code only (migrations, superuser admin, fan-out jobs);
    each use is deliberate and named `all_tenants` so that it stands out in review."""


def unindexed_tenant_field(*, db_constraint: bool = True) -> models.ForeignKey:
    """`TenantOwned.tenant` without an index of its own, for a hot table whose every index starts
    with the tenant already: one more would only cost each write (the inbound path's tables).
    `db_constraint=False` also spares each inserted row PostgreSQL's foreign key check, for a table
    written many rows at a time by the database itself (tickets.MessageWord); deleting a tenant
    still deletes its rows (Django's cascade)."""
    return models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=db_constraint,
        verbose_name=_("tenant"),
    )


class TenantOwned(models.Model):
    """Base of every model that belongs to a tenant.

    `objects` (the default manager) is scoped to the current tenant and raises without one;
    `all_tenants` is the explicit way around it. Saving fills `tenant` from the context and refuses
    to write (save, delete, bulk_create, update) a row of a tenant other than the current one.
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

    def _own_tenant_for_validation(self):
        """Model validation (unique checks, constraints) queries the default manager. Outside any
        tenant (the platform admin) it runs inside the row's own tenant instead of failing."""
        if get_current_tenant() is None and self.tenant_id is not None:
            return tenant_context(self.tenant)
        return nullcontext()

    def validate_unique(self, exclude=None):
        with self._own_tenant_for_validation():
            super().validate_unique(exclude=exclude)

    def validate_constraints(self, exclude=None):
        with self._own_tenant_for_validation():
            super().validate_constraints(exclude=exclude)

    def delete(self, *args, **kwargs):
        current = get_current_tenant()
        if current is not None and current.pk != self.tenant_id:
            raise TenantMismatch()
        return super().delete(*args, **kwargs)
