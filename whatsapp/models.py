import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import TenantOwned, unindexed_tenant_field
from whatsapp.choices import ConnectionStatus, InboundEventStatus, Provider
from whatsapp.fields import EncryptedTextField


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


def new_verify_token() -> str:
    return secrets.token_urlsafe(24)


def default_graph_api_version() -> str:
    return settings.WHATSAPP_GRAPH_API_VERSION


class Connection(TenantOwned):
    """A WhatsApp number of a tenant, reached through Meta's Cloud API or an Evolution API instance.

    Routing keys of incoming webhooks, unique across all tenants: `webhook_secret` (in the webhook
    URL path), `phone_number_id` (Cloud: Meta posts every number of an app to one callback URL) and
    `(api_base_url, instance_name)` (Evolution). Credentials are encrypted at rest (whatsapp.fields).
    """

    Provider = Provider
    Status = ConnectionStatus

    name = models.CharField(_("name"), max_length=120)
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.DISCONNECTED
    )
    is_default = models.BooleanField(_("default connection"), default=False)
    greeting_message = models.TextField(_("greeting message"), blank=True)
    farewell_message = models.TextField(_("farewell message"), blank=True)
    out_of_hours_message = models.TextField(_("out-of-hours message"), blank=True)
    # Where this number's new tickets go. Empty: the customer picks from the queue menu (when the
    # tenant has several queues).
    default_queue = models.ForeignKey(
        "tickets.Queue",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default queue"),
    )

    # Empty = the provider's default: settings.WHATSAPP_GRAPH_BASE_URL for Cloud. Required for Evolution.
    api_base_url = models.URLField(_("API base URL"), max_length=200, blank=True)

    # --- Meta WhatsApp Cloud API
    phone_number_id = models.CharField(_("phone number ID"), max_length=64, blank=True)
    waba_id = models.CharField(_("WhatsApp Business Account ID"), max_length=64, blank=True)
    display_phone_number = models.CharField(_("display phone number"), max_length=32, blank=True)
    graph_api_version = models.CharField(_("Graph API version"), max_length=16, default=default_graph_api_version)
    access_token = EncryptedTextField(_("access token"), blank=True)
    app_secret = EncryptedTextField(_("app secret"), blank=True)
    # Answered back to Meta's GET verification; shown to the admin to paste in the App Dashboard.
    verify_token = models.CharField(_("verify token"), max_length=64, default=new_verify_token)

    # --- Evolution API
    instance_name = models.CharField(_("instance name"), max_length=100, blank=True)
    api_key = EncryptedTextField(_("API key"), blank=True)

    webhook_secret = models.CharField(max_length=64, unique=True, default=new_webhook_secret, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    last_status_at = models.DateTimeField(_("last status change"), null=True, blank=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="whatsapp_connection_name_unique"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="whatsapp_connection_one_default"
            ),
            models.UniqueConstraint(
                fields=["phone_number_id"],
                condition=~Q(phone_number_id=""),
                name="whatsapp_connection_phone_number_id_unique",
            ),
            models.UniqueConstraint(
                fields=["api_base_url", "instance_name"],
                condition=~Q(instance_name=""),
                name="whatsapp_connection_instance_unique",
            ),
            models.CheckConstraint(condition=Q(provider__in=Provider.values), name="whatsapp_connection_provider"),
            models.CheckConstraint(condition=Q(status__in=ConnectionStatus.values), name="whatsapp_connection_status"),
        ]
        indexes = [models.Index(fields=["tenant", "provider", "status"], name="whatsapp_conn_tenant_prov_st")]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        self.api_base_url = self.api_base_url.rstrip("/")
        required = {
            Provider.CLOUD: ["phone_number_id", "access_token", "app_secret"],
            Provider.EVOLUTION: ["api_base_url", "instance_name", "api_key"],
        }.get(self.provider, [])
        errors = {name: _("Required for this provider.") for name in required if not getattr(self, name)}
        if self.default_queue_id and self.default_queue.tenant_id != self.tenant_id:
            errors["default_queue"] = _("Choose a queue of this company.")
        if errors:
            raise ValidationError(errors)


class InboundEvent(TenantOwned):
    """One webhook delivery, stored as the exact bytes received before anything is parsed.

    The webhook view inserts it (a redelivery hits `dedupe_key` and is dropped) and a worker parses
    and applies it; keeping the raw body lets a fixed parser replay failed events.
    """

    Status = InboundEventStatus

    tenant = unindexed_tenant_field()
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="inbound_events", verbose_name=_("connection")
    )
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    # A constraint, not unique=True: that would add a second (LIKE-pattern) index nothing reads.
    dedupe_key = models.CharField(max_length=128)
    body = models.BinaryField(_("raw body"))
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=InboundEventStatus.choices, default=InboundEventStatus.PENDING
    )
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        ordering = ["received_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=InboundEventStatus.values), name="whatsapp_inbound_status"),
            models.UniqueConstraint(fields=["dedupe_key"], name="whatsapp_inbound_dedupe_key"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "received_at"], name="whatsapp_inbound_tenant_st_rcv"),
            models.Index(fields=["tenant", "connection", "received_at"], name="whatsapp_inbound_tenant_conn"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} event {self.pk} ({self.status})"

    @staticmethod
    def build_dedupe_key(*, connection_id: int, body: bytes) -> str:
        """The same bytes delivered twice to the same connection are one event (provider retries
        resend the identical body). Different deliveries of one message are deduplicated later, by
        the provider message id."""
        return f"{connection_id}:{hashlib.sha256(body).hexdigest()}"


class MessageTemplate(TenantOwned):
    """A Cloud API message template of a connection's WhatsApp Business Account, as Meta knows it.

    Synced from the provider (Meta approves or rejects them; only APPROVED ones can be sent) and
    created here by submitting them for approval. `variables` is derived from `components`: the
    placeholders each component expects, e.g. `{"body": ["1", "2"], "header": ["name"]}`.
    """

    class Category(models.TextChoices):
        MARKETING = "MARKETING", _("Marketing")
        UTILITY = "UTILITY", _("Utility")
        AUTHENTICATION = "AUTHENTICATION", _("Authentication")

    class Status(models.TextChoices):
        APPROVED = "APPROVED", _("Approved")
        PENDING = "PENDING", _("Pending review")
        REJECTED = "REJECTED", _("Rejected")
        PAUSED = "PAUSED", _("Paused")
        DISABLED = "DISABLED", _("Disabled")

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="templates", verbose_name=_("connection")
    )
    name = models.CharField(_("name"), max_length=512)
    language = models.CharField(_("language"), max_length=16)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    components = models.JSONField(_("components"), default=list, blank=True)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    provider_template_id = models.CharField(_("provider template id"), max_length=64, blank=True)
    rejected_reason = models.CharField(_("rejected reason"), max_length=200, blank=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "name", "language"], name="whatsapp_template_unique_name_language"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status", "name"], name="whatsapp_template_tenant_st")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"
