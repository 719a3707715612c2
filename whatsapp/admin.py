"""Back office of WhatsApp: connections (secrets never shown, credentials write-only) and the
inbound events received from the providers (read-only, with a retry for failed ones)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import Role
from config.errors import ProsaError
from tenants.admin import TenantScopedAdmin
from tenants.context import get_current_tenant
from whatsapp import services
from whatsapp.choices import ConnectionStatus, InboundEventStatus, Provider
from whatsapp.exceptions import ProviderUrlNotAllowed
from whatsapp.inbound import inbound_event_retry
from whatsapp.models import Connection, InboundEvent

CREDENTIALS = services.CREDENTIAL_FIELDS
STATUS_TONES = {
    ConnectionStatus.CONNECTED: "prosa-badge-ok",
    ConnectionStatus.QRCODE: "prosa-badge-warn",
    ConnectionStatus.CONNECTING: "prosa-badge-warn",
    ConnectionStatus.DISCONNECTED: "prosa-badge-bad",
}


class ConnectionAdminForm(forms.ModelForm):
    """Credentials are write-only: never rendered back, left empty to keep the stored value."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in CREDENTIALS:
            if name in self.fields:
                stored = bool(getattr(self.instance, name, ""))
                self.fields[name] = forms.CharField(
                    label=self.fields[name].label,
                    required=False,
                    strip=True,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                    help_text=_("Stored. Leave empty to keep it.") if stored else _("Not set."),
                )

    def clean_api_base_url(self):
        url = self.cleaned_data.get("api_base_url", "")
        if not url:
            return url
        try:
            return services.provider_url_check(url)
        except ProviderUrlNotAllowed as exc:
            raise forms.ValidationError(str(exc.detail)) from None

    def clean(self):
        cleaned = super().clean()
        for name in CREDENTIALS:
            if name in cleaned and not cleaned[name] and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)  # empty keeps the stored credential
        return cleaned


@admin.register(Connection)
class ConnectionAdmin(TenantScopedAdmin):
    admin_only = True
    form = ConnectionAdminForm
    list_display = [
        "name", "provider", "status_badge", "is_default", "display_phone_number", "instance_name", "last_status_at",
        "pairing",
    ]  # fmt: skip
    list_filter = ["provider", "status"]
    search_fields = ["name", "phone_number_id", "instance_name", "display_phone_number"]
    readonly_fields = ["status_badge", "pairing", "last_status_at", "created_at", "updated_at"]
    actions = ["test_connections"]
    fieldsets = [
        (None, {"fields": ["name", "provider", "is_default", "status_badge", "pairing", "last_status_at"]}),
        (
            _("Messages and routing"),
            {"fields": ["greeting_message", "farewell_message", "out_of_hours_message", "default_queue"]},
        ),
        (
            _("WhatsApp Cloud API"),
            {
                "fields": [
                    "phone_number_id",
                    "waba_id",
                    "display_phone_number",
                    "graph_api_version",
                    "access_token",
                    "app_secret",
                    "verify_token",
                ]  # fmt: skip
            },
        ),
        (_("Evolution API"), {"fields": ["api_base_url", "instance_name", "api_key"]}),
        (_("History"), {"fields": ["created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("provider")  # the provider never changes
        return fields

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        tone = STATUS_TONES.get(obj.status, "")
        return format_html('<span class="prosa-badge {}">{}</span>', tone, obj.get_status_display())

    @admin.display(description=_("pairing"))
    def pairing(self, obj):
        if obj.pk is None or obj.provider != Provider.EVOLUTION:
            return "—"
        url = reverse("admin:whatsapp_connection_qrcode", args=[obj.pk])
        label = _("Show QR code") if obj.status != ConnectionStatus.CONNECTED else _("Connected — QR code page")
        return format_html('<a href="{}">{}</a>', url, label)

    # --- QR code page of Evolution connections ----------------------------------------------

    def get_urls(self):
        qrcode = self.admin_site.admin_view(self.qrcode_view)
        poll = self.admin_site.admin_view(self.qrcode_poll_view)
        own = [
            path("<path:object_id>/qrcode/", qrcode, name="whatsapp_connection_qrcode"),
            path("<path:object_id>/qrcode/poll/", poll, name="whatsapp_connection_qrcode_poll"),
        ]
        return own + super().get_urls()

    def _pairing_connection(self, request, object_id):
        """The tenant's Evolution connection, or None (another tenant's looks like a missing one).
        Supervisors may pair a phone that lost its session, though only admins change connections."""
        if not (self.has_change_permission(request) or self._role(request) == Role.SUPERVISOR):
            raise PermissionDenied
        connection = self.get_object(request, object_id)
        if connection is None or connection.provider != Provider.EVOLUTION:
            return None
        return connection

    def qrcode_view(self, request, object_id):
        connection = self._pairing_connection(request, object_id)
        if connection is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Pair %(name)s") % {"name": connection.name},
            "opts": self.opts,
            "original": connection,
            "poll_url": reverse("admin:whatsapp_connection_qrcode_poll", args=[connection.pk]),
            "change_url": reverse("admin:whatsapp_connection_change", args=[connection.pk]),
        }
        return TemplateResponse(request, "admin/whatsapp/connection/qrcode.html", context)

    def qrcode_poll_view(self, request, object_id):
        """The htmx fragment the QR page polls: a fresh QR code until the session opens, then
        "connected" (a fragment without a trigger, so the polling stops)."""
        connection = self._pairing_connection(request, object_id)
        if connection is None:
            raise Http404
        context = {"poll_url": request.path, "connection": connection}
        try:
            result = services.connection_qrcode(connection=connection)
        except ProsaError as exc:
            context["error"] = str(exc.detail)
        else:
            # Shown as an <img>: only an inline image, whatever the provider answered.
            qrcode = result["qrcode"] or ""
            context["qrcode"] = qrcode if qrcode.startswith("data:image/") else ""
            context["connected"] = result["status"] == ConnectionStatus.CONNECTED
        return TemplateResponse(request, "admin/whatsapp/connection/qrcode_poll.html", context)

    @admin.action(description=_("Test the selected connections"), permissions=["manage"])
    def test_connections(self, request, queryset):
        for connection in queryset:
            try:
                result = services.connection_test(connection=connection)
            except ProsaError as exc:
                self.message_user(request, f"{connection.name}: {exc.detail}", messages.ERROR)
            else:
                status = ConnectionStatus(result["status"]).label
                self.message_user(
                    request, _("%(name)s works: %(status)s.") % {"name": connection.name, "status": status}
                )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if "tenant" not in self.get_exclude(request, obj):
            fieldsets = [(None, {"fields": ["tenant"]}), *fieldsets]
        return fieldsets

    def save_model(self, request, obj, form, change):
        """Through the services, like the API: URL checks, one default per tenant, plan limits."""
        fields = {
            name: form.cleaned_data[name]
            for name in services.COMMON_FIELDS | services.PROVIDER_FIELDS.get(obj.provider, frozenset())
            if name in form.cleaned_data
        }
        try:
            if change:
                services.connection_update(connection=obj, **fields)
            else:
                tenant = obj.tenant if obj.tenant_id else get_current_tenant()
                created = services.connection_create(tenant=tenant, provider=obj.provider, **fields)
                obj.pk = created.pk
                obj.webhook_secret = created.webhook_secret
        except ProsaError as exc:
            # Rare after form validation (a race, or the plan limit): say so instead of a 500.
            messages.error(request, str(exc.detail))
            raise


@admin.register(InboundEvent)
class InboundEventAdmin(TenantScopedAdmin):
    """What the providers sent, as received. Read-only; failed events can be processed again."""

    list_display = ["id", "connection", "provider", "status", "attempts", "received_at", "processed_at"]
    list_filter = ["status", "provider"]
    list_select_related = ["connection"]
    date_hierarchy = "received_at"
    readonly_fields = [
        "connection", "provider", "status", "attempts", "error", "content_type", "size", "received_at", "processed_at",
    ]  # fmt: skip
    fields = readonly_fields
    actions = ["retry_failed_events"]

    @admin.display(description=_("size (bytes)"))
    def size(self, obj):
        return len(obj.body) if obj.body is not None else 0

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Retry failed events"), permissions=["manage"])
    def retry_failed_events(self, request, queryset):
        count = inbound_event_retry(events_to_retry=queryset.filter(status=InboundEventStatus.FAILED))
        self.message_user(
            request,
            ngettext(
                "%(count)d failed event will be processed again.",
                "%(count)d failed events will be processed again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )
