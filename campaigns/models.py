"""Campaigns: one message sent to many contacts of a tenant, paced per connection.

A `Campaign` says what to send (an approved Cloud template with per-contact values, or for
Evolution free text with random variations and optional media), to whom (tags, explicit contacts,
a contact filter, an uploaded CSV) and when (now or at a time, inside a daily window in the
tenant's timezone). Scheduling snapshots the audience into one `CampaignRecipient` row per contact;
workers claim those rows atomically and record each one's fate.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.models import TenantOwned


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class RecipientStatus(models.TextChoices):
    """Ordered pending < sending < sent < delivered < read < replied; failed is terminal."""

    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    REPLIED = "replied", _("Replied")
    FAILED = "failed", _("Failed")


RECIPIENT_RANK = {
    RecipientStatus.PENDING: 0,
    RecipientStatus.SENDING: 1,
    RecipientStatus.SENT: 2,
    RecipientStatus.DELIVERED: 3,
    RecipientStatus.READ: 4,
    RecipientStatus.REPLIED: 5,
}


class Campaign(TenantOwned):
    Status = CampaignStatus

    class MediaType(models.TextChoices):
        IMAGE = "image", _("Image")
        VIDEO = "video", _("Video")
        DOCUMENT = "document", _("Document")
        AUDIO = "audio", _("Audio")

    name = models.CharField(_("name"), max_length=200)
    connection = models.ForeignKey(
        "whatsapp.Connection", on_delete=models.RESTRICT, related_name="campaigns", verbose_name=_("connection")
    )
    status = models.CharField(_("status"), max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)

    # --- message: a Cloud template…
    template = models.ForeignKey(
        "whatsapp.MessageTemplate",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("template"),
    )
    # {"body": {"1": "{{name}}", "2": "{{city}}"}, "header": {...}}: per placeholder, a text with
    # contact variables ({{name}}, {{first_name}}, {{phone}}, {{email}}, custom field keys).
    template_params = models.JSONField(_("template values"), default=dict, blank=True)
    # …or free text (Evolution): one variation chosen at random per recipient, same variables.
    text_variations = models.JSONField(_("text variations"), default=list, blank=True)
    media_url = models.URLField(_("media URL"), max_length=500, blank=True)
    media_type = models.CharField(_("media type"), max_length=16, choices=MediaType.choices, blank=True)

    # --- audience (the union of these; opted-out contacts are always left out)
    audience_tags = models.ManyToManyField(
        "crm.Tag", related_name="campaigns", blank=True, verbose_name=_("contacts with any of these tags")
    )
    audience_contacts = models.ManyToManyField(
        "crm.Contact", related_name="campaigns", blank=True, verbose_name=_("these contacts")
    )
    # {"search": "...", "created_after": "2026-01-01", "created_before": "...", "custom_fields": {"city": "SP"}}
    audience_filter = models.JSONField(_("contacts matching"), default=dict, blank=True)

    # --- when and how fast
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    # Business-hours format ({"mon": [["08:00", "20:00"]], ...}) in the tenant's timezone; empty = any time.
    send_window = models.JSONField(_("allowed sending window"), default=dict, blank=True)
    rate_per_second = models.FloatField(_("messages per second (Cloud)"), null=True, blank=True)
    delay_min_ms = models.PositiveIntegerField(_("minimum delay between messages, ms (Evolution)"), default=3000)
    delay_max_ms = models.PositiveIntegerField(_("maximum delay between messages, ms (Evolution)"), default=8000)
    pause_every = models.PositiveIntegerField(_("pause after this many messages (Evolution, 0 = never)"), default=50)
    pause_seconds = models.PositiveIntegerField(_("pause length, seconds (Evolution)"), default=60)

    next_run_at = models.DateTimeField(_("resumes at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CampaignStatus.values), name="campaigns_campaign_status"),
        ]
        indexes = [models.Index(fields=["tenant", "status", "created_at"], name="campaigns_tenant_status")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_terminal(self) -> bool:
        return self.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)


class CampaignRecipient(TenantOwned):
    """One contact of a campaign and what happened to its message.

    `idempotency_key` names the one send this row may make; a worker claims the row (pending →
    sending) before calling WhatsApp, so two workers never hold it, and a row left `sending` by a
    worker that died is never sent again (see services.recipients_recover_stale).
    """

    Status = RecipientStatus

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="campaign_recipients")
    to = models.CharField(_("number"), max_length=128)
    status = models.CharField(
        _("status"), max_length=16, choices=RecipientStatus.choices, default=RecipientStatus.PENDING
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # What this contact gets: {"values": {...}} (template) or {"text": ..., "variation": n}.
    payload = models.JSONField(default=dict, blank=True)
    provider_message_id = models.CharField(_("WhatsApp message id"), max_length=128, blank=True)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error_reason = models.TextField(_("reason"), blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The worker holding the row (`sending`); it refreshes `claimed_at` while it lives.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Set just before the call to WhatsApp: a stale `sending` row without it was never attempted.
    send_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)
    opted_out_at = models.DateTimeField(_("opted out at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("campaign recipient")
        verbose_name_plural = _("campaign recipients")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="campaigns_recipient_unique_contact"),
            models.CheckConstraint(condition=Q(status__in=RecipientStatus.values), name="campaigns_recipient_status"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="campaigns_recipient_claim"),
            models.Index(
                fields=["tenant", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="campaigns_recipient_wamid",
            ),
            models.Index(fields=["tenant", "contact", "sent_at"], name="campaigns_recipient_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.to} ({self.status})"
