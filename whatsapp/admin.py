"""Back office of WhatsApp: connections (secrets never shown, credentials write-only) and the
inbound events received from the providers (read-only, with a retry for failed ones)."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from config.errors import ProsaError
from tenants.admin import TenantScopedAdmin
from tenants.context import get_current_tenant
from whatsapp import services
from whatsapp.choices import InboundEventStatus
from whatsapp.exceptions import ProviderUrlNotAllowed
from whatsapp.inbound import inbound_event_retry
from whatsapp.models import Connection, InboundEvent

CREDENTIALS = services.CREDENTIAL_FIELDS


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
    list_display = ["name", "provider", "status", "is_default", "phone_number_id", "instance_name", "last_status_at"]
    list_filter = ["provider", "status"]
    search_fields = ["name", "phone_number_id", "instance_name", "display_phone_number"]
    readonly_fields = ["status", "last_status_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "provider", "is_default", "status", "last_status_at"]}),
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
