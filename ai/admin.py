"""Back office of AI: the workspace's provider (API key write-only), the metering of every call
with this month's use against the plan, the stored ticket insights, the AI agents and the tickets
they answered without a flow (read-only)."""

import csv
import io

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

from ai import metering, services
from ai.models import AIAgent, AISettings, AIUsage, BotSession, TicketInsight
from ai.presets import PRESETS
from tenants.admin import ObjectTenantAdmin, TenantScopedAdmin
from tenants.context import get_current_tenant, tenant_context
from whatsapp.exceptions import ProviderUrlNotAllowed
from whatsapp.services import provider_url_check


class AISettingsAdminForm(forms.ModelForm):
    """The API key is write-only: never rendered back, left empty to keep the stored one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "api_key" in self.fields:
            stored = bool(self.instance.api_key)
            self.fields["api_key"] = forms.CharField(
                label=self.fields["api_key"].label,
                required=False,
                strip=True,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=_("Stored. Leave empty to keep it.") if stored else _("Not set."),
            )
        for name in ("base_url", "chat_model"):
            if name in self.fields:
                self.fields[name].required = False
        if "base_url" in self.fields:
            self.fields["base_url"].help_text = _("Empty: the chosen provider's URL.")
        if "chat_model" in self.fields:
            self.fields["chat_model"].help_text = _("Empty: the chosen provider's suggested model.")

    def clean(self):
        cleaned = super().clean()
        preset = PRESETS.get(cleaned.get("preset") or "")
        base_url = cleaned.get("base_url") or (preset.base_url if preset else "")
        if not base_url:
            self.add_error("base_url", _("Give the API base URL (or choose a provider)."))
        else:
            try:
                provider_url_check(base_url, allow_private=settings.AI_ALLOW_PRIVATE_PROVIDER_URLS)
            except ProviderUrlNotAllowed as exc:
                self.add_error("base_url", str(exc.detail))
        if not (cleaned.get("chat_model") or (preset.chat_model if preset else "")):
            self.add_error("chat_model", _("Give the chat model (or choose a provider)."))
        if "api_key" in cleaned and not cleaned["api_key"] and self.instance.pk:
            cleaned["api_key"] = None  # empty keeps the stored key
        return cleaned


@admin.register(AISettings)
class AISettingsAdmin(TenantScopedAdmin):
    admin_only = True
    form = AISettingsAdminForm
    list_display = ["preset", "chat_model", "transcription_model", "enabled", "updated_at"]
    fieldsets = [
        (None, {"fields": ["preset", "base_url", "api_key", "enabled"]}),
        (
            _("Models"),
            {"fields": ["chat_model", "embeddings_model", "transcription_model", "auto_transcribe", "timeout_seconds"]},
        ),
        (
            _("Tickets"),
            {
                "fields": ["ticket_categories", "summarize_on_close"],
                "description": _('The categories the AI classifies tickets into: ["Billing", "Delivery"].'),
            },
        ),
    ]

    def has_add_permission(self, request):
        # One row per workspace: add it once, change it afterwards.
        tenant = get_current_tenant()
        if tenant is None or not super().has_add_permission(request):
            return False
        return not AISettings.objects.exists()

    def save_model(self, request, obj, form, change):
        tenant = obj.tenant if obj.tenant_id else get_current_tenant()
        fields = {name: form.cleaned_data[name] for name in services.SETTINGS_FIELDS if name in form.cleaned_data}
        with tenant_context(tenant):
            saved = services.ai_settings_save(tenant=tenant, **fields)
        obj.pk, obj.tenant = saved.pk, saved.tenant


@admin.register(AIUsage)
class AIUsageAdmin(TenantScopedAdmin):
    """Read-only: the record of every call, and this month's use against the plan on top."""

    list_display = ["created_at", "feature", "user", "ticket", "model", "prompt_tokens", "completion_tokens",
                    "latency_ms", "succeeded", "error_code"]  # fmt: skip
    list_filter = ["feature", "succeeded", "created_at"]
    list_select_related = ["user", "ticket"]
    date_hierarchy = "created_at"
    actions = ["export_csv"]
    change_list_template = "admin/ai/aiusage/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        tenant = get_current_tenant()
        summary = metering.usage_summary(tenant=tenant) if tenant is not None else None
        return super().changelist_view(request, {**(extra_context or {}), "ai_usage_summary": summary})

    @admin.action(description=_("Export the selected calls as CSV"))
    def export_csv(self, request, queryset):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["time", "feature", "user_id", "ticket_id", "model", "prompt_tokens", "completion_tokens",
                         "latency_ms", "succeeded", "error_code"])  # fmt: skip
        for usage in queryset.order_by("created_at", "id"):
            writer.writerow([
                usage.created_at.isoformat(), usage.feature, usage.user_id or "", usage.ticket_id or "", usage.model,
                usage.prompt_tokens, usage.completion_tokens, usage.latency_ms, usage.succeeded, usage.error_code,
            ])  # fmt: skip
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="ai-usage.csv"'
        return response


@admin.register(TicketInsight)
class TicketInsightAdmin(TenantScopedAdmin):
    list_display = ["ticket", "sentiment", "category", "summarized_at", "classified_at"]
    list_filter = ["sentiment", "category"]
    list_select_related = ["ticket", "ticket__contact"]
    search_fields = ["summary", "category"]
    readonly_fields = ["ticket", "summary", "summarized_at", "sentiment", "category", "classified_at", "updated_at"]

    def has_add_permission(self, request):
        return False


@admin.register(AIAgent)
class AIAgentAdmin(ObjectTenantAdmin):
    list_display = [
        "name", "language", "active", "answers_new_tickets", "business_hours", "max_bot_turns", "handoff_queue",
        "updated_at",
    ]  # fmt: skip
    list_filter = ["active", "answers_new_tickets", "business_hours", "language"]
    list_select_related = ["handoff_queue"]
    search_fields = ["name", "instructions"]
    filter_horizontal = ["connections", "queues"]
    fieldsets = [
        (None, {"fields": ["name", "active", "language", "instructions"]}),
        (_("Knowledge"), {"fields": ["knowledge_tags", "knowledge_categories"]}),
        (
            _("Where it answers"),
            {
                "fields": ["connections", "queues", "answers_new_tickets", "business_hours"],
                "description": _(
                    "No connection or queue: all of them. With “answer new tickets without a flow”, new "
                    "tickets that no flow takes are answered by this agent before the greeting and queue menu."
                ),
            },
        ),
        (_("Handing over to people"), {"fields": ["max_bot_turns", "handoff_queue", "handoff_on_negative_sentiment"]}),
    ]


@admin.register(BotSession)
class BotSessionAdmin(TenantScopedAdmin):
    """Which AI agent answered which ticket without a flow, and how it ended (read-only: agents
    take a ticket over from the inbox). Deleting a session forgets it; an active one's ticket goes
    back to routing at the customer's next message (a leftover `is_bot` is cleared there)."""

    list_display = ["ticket", "agent", "status", "end_reason", "started_at", "ended_at"]
    list_filter = ["status", "end_reason"]
    list_select_related = ["ticket", "ticket__contact", "agent"]
    readonly_fields = ["ticket", "agent", "status", "last_message_id", "end_reason", "started_at", "ended_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
