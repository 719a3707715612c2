from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.models import TenantOwned


class Tag(TenantOwned):
    """A label for contacts and tickets (and later deals)."""

    name = models.CharField(_("name"), max_length=60)
    color = models.CharField(_("color"), max_length=7, default="#64748b")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="crm_tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class ContactFieldDefinition(TenantOwned):
    """A custom field the tenant defines for its contacts (values live in Contact.custom_fields)."""

    class FieldType(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        BOOLEAN = "boolean", _("Yes/no")
        CHOICE = "choice", _("Choice")

    key = models.SlugField(_("key"), max_length=60)
    label = models.CharField(_("label"), max_length=120)
    field_type = models.CharField(_("type"), max_length=16, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("contact field")
        verbose_name_plural = _("contact fields")
        ordering = ["order", "label"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="crm_contactfield_unique_key")]

    def __str__(self) -> str:
        return self.label


class Contact(TenantOwned):
    """A customer. `wa_id` is the provider's chat identity (Cloud wa_id / Evolution JID user part);
    `phone` is E.164 digits when known. Brazilian numbers are matched with and without the mobile
    ninth digit by the services, so one person never becomes two contacts."""

    name = models.CharField(_("name"), max_length=200, blank=True)
    phone = models.CharField(_("phone (E.164 digits)"), max_length=20, blank=True)
    wa_id = models.CharField(_("WhatsApp id"), max_length=128, blank=True)
    profile_name = models.CharField(_("WhatsApp profile name"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True)
    avatar = models.ImageField(_("avatar"), upload_to="contacts/avatars/", blank=True)
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, related_name="contacts", blank=True, verbose_name=_("tags"))
    opted_out = models.BooleanField(_("opted out of campaigns"), default=False)
    notes = models.TextField(_("notes"), blank=True)
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "wa_id"], condition=~Q(wa_id=""), name="crm_contact_unique_wa_id"
            ),
            models.UniqueConstraint(
                fields=["tenant", "phone"], condition=~Q(phone=""), name="crm_contact_unique_phone"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="crm_contact_tenant_created"),
            GinIndex(name="crm_contact_name_trgm", fields=["name"], opclasses=["gin_trgm_ops"]),
            # The contact search's number lookups; its text index is in migration 0002 (SQL only).
            GinIndex(fields=["phone"], name="crm_contact_phone_trgm", opclasses=["gin_trgm_ops"]),
            GinIndex(fields=["wa_id"], name="crm_contact_wa_id_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return self.name or self.profile_name or (f"+{self.phone}" if self.phone else self.wa_id)

    @property
    def display_name(self) -> str:
        return str(self)


class ContactImport(TenantOwned):
    """A CSV import of contacts, processed by a task; its progress is visible while it runs."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    file = models.FileField(_("file"), upload_to="contact-imports/")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("processed rows"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    errors = models.JSONField(_("errors by row"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact import")
        verbose_name_plural = _("contact imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.get_status_display()})"
