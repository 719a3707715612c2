"""Back office of campaigns (progress bar, schedule/pause/resume/cancel actions, recipients) and of
WhatsApp message templates (sync from Meta, read-only rows: they are Meta's)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from campaigns import selectors, services
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from config.errors import ProsaError
from tenants.admin import TenantScopedAdmin, is_platform_view
from tenants.context import get_current_tenant, tenant_context
from whatsapp import templates
from whatsapp.choices import Provider
from whatsapp.models import Connection, MessageTemplate
from whatsapp.providers import ProviderError

DRAFT_FIELDS = sorted(services.EDITABLE_FIELDS) + ["audience_tags", "audience_contacts"]


def _run(modeladmin, request, queryset, service, done_message):
    done = 0
    for campaign in queryset:
        try:
            service(campaign=campaign)
        except ProsaError as exc:
            modeladmin.message_user(request, f"{campaign}: {exc.detail}", messages.ERROR)
        else:
            done += 1
    if done:
        modeladmin.message_user(request, done_message % {"n": done}, messages.SUCCESS)


@admin.register(Campaign)
class CampaignAdmin(TenantScopedAdmin):
    list_display = ["name", "status", "connection", "progress_bar", "scheduled_at", "started_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    raw_id_fields = ["audience_contacts"]
    filter_horizontal = ["audience_tags"]
    actions = ["schedule_now", "pause", "resume", "cancel"]
    fields = [
        "name", "connection", "template", "template_params", "text_variations", "media_url", "media_type",
        "audience_tags", "audience_contacts", "audience_filter", "send_window", "rate_per_second",
        "delay_min_ms", "delay_max_ms", "pause_every", "pause_seconds", "status", "scheduled_at", "next_run_at",
        "started_at", "finished_at", "stats_table",
    ]  # fmt: skip

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if is_platform_view(request):
            # Many-to-many choices and values read tenant-scoped managers: shown inside a tenant only.
            fields = [name for name in fields if name not in ("audience_tags", "audience_contacts")]
        return fields

    def get_readonly_fields(self, request, obj=None):
        always = ["status", "scheduled_at", "next_run_at", "started_at", "finished_at", "stats_table"]
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return always + DRAFT_FIELDS
        return always

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS if name in form.cleaned_data}
        tenant = obj.tenant if obj.tenant_id else get_current_tenant()
        with tenant_context(tenant):  # a superuser outside any tenant edits in the row's tenant
            if change:
                saved = services.campaign_update(campaign=obj, **data)
            else:
                saved = services.campaign_create(tenant=tenant, actor=request.user, **data)
        obj.pk, form.instance = saved.pk, saved

    def get_queryset(self, request):
        # The progress bar's numbers, in the list's own query (no query per row).
        waiting = (RecipientStatus.PENDING, RecipientStatus.SENDING)
        return (
            super()
            .get_queryset(request)
            .select_related("connection")
            .annotate(
                recipients_total=Count("recipients"),
                recipients_done=Count("recipients", filter=~Q(recipients__status__in=waiting)),
            )
        )

    @admin.display(description=_("progress"))
    def progress_bar(self, obj):
        total, done = getattr(obj, "recipients_total", 0), getattr(obj, "recipients_done", 0)
        percent = int(100 * done / total) if total else 0
        return format_html(
            '<progress value="{}" max="100" title="{}%"></progress> {} / {}', percent, percent, done, total
        )

    @admin.display(description=_("statistics"))
    def stats_table(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        with tenant_context(obj.tenant):  # also for a superuser outside any tenant
            stats = selectors.campaign_stats(campaign=obj)
        url = reverse("admin:campaigns_campaignrecipient_changelist") + f"?campaign__id__exact={obj.pk}"
        rows = format_html("").join(
            format_html("<tr><th>{}</th><td>{}</td></tr>", label, value)
            for label, value in [*stats["counts"].items(), *(("rate " + k, v) for k, v in stats["rates"].items())]
        )
        return format_html(
            '{}<table>{}</table><p><a href="{}">{}</a></p>',
            self.progress_bar(obj),
            rows,
            url,
            _("Recipients"),
        )

    @admin.action(description=_("Schedule now (drafts)"), permissions=["manage"])
    def schedule_now(self, request, queryset):
        _run(self, request, queryset, services.campaign_schedule, _("%(n)d campaign(s) scheduled."))

    @admin.action(description=_("Pause"), permissions=["manage"])
    def pause(self, request, queryset):
        _run(self, request, queryset, services.campaign_pause, _("%(n)d campaign(s) paused."))

    @admin.action(description=_("Resume"), permissions=["manage"])
    def resume(self, request, queryset):
        _run(self, request, queryset, services.campaign_resume, _("%(n)d campaign(s) resumed."))

    @admin.action(description=_("Cancel"), permissions=["manage"])
    def cancel(self, request, queryset):
        _run(self, request, queryset, services.campaign_cancel, _("%(n)d campaign(s) cancelled."))


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(TenantScopedAdmin):
    """What happened to each message of a campaign. Written by the sending workers only."""

    list_display = ["to", "contact", "campaign", "status", "error_code", "sent_at", "delivered_at", "read_at"]
    list_filter = ["status", "campaign"]
    search_fields = ["to"]
    list_select_related = ["contact", "campaign"]

    def get_list_filter(self, request):
        # `campaign` as a filter would list every tenant's campaigns outside a tenant.
        filters = super().get_list_filter(request)
        return [f for f in filters if f != "campaign" or not is_platform_view(request)]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MessageTemplate)
class MessageTemplateAdmin(TenantScopedAdmin):
    """Meta's templates, as last synced. "Sync from WhatsApp" (button) refreshes every Cloud
    connection's; new templates are submitted through the API."""

    list_display = ["name", "language", "category", "status", "connection", "synced_at"]
    list_filter = ["status", "category", "language"]
    search_fields = ["name"]
    actions = ["sync_selected"]
    change_list_template = "admin/whatsapp/messagetemplate/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        sync = self.admin_site.admin_view(self.sync_view)
        return [path("sync/", sync, name="whatsapp_messagetemplate_sync"), *super().get_urls()]

    def _sync(self, request, connections) -> None:
        for connection in connections:
            try:
                counts = templates.templates_sync(connection=connection)
            except (ProviderError, ProsaError) as exc:
                self.message_user(request, f"{connection}: {exc.detail}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(connection)s: %(created)d new, %(updated)d changed, %(deleted)d removed.")
                    % {"connection": connection, **counts},
                    messages.SUCCESS,
                )

    def sync_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_manage_permission(request) or is_platform_view(request):
            raise PermissionDenied
        self._sync(request, Connection.objects.filter(provider=Provider.CLOUD).exclude(waba_id=""))
        return HttpResponseRedirect(reverse("admin:whatsapp_messagetemplate_changelist"))

    @admin.action(description=_("Sync the connections of the selected templates"), permissions=["manage"])
    def sync_selected(self, request, queryset):
        ids = set(queryset.values_list("connection_id", flat=True))
        self._sync(request, Connection.objects.filter(pk__in=ids))
