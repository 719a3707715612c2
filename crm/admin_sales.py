"""Admin of the sales pipeline (with a board of deals by stage), tasks, meetings and escalations.

Writes with side effects (timeline entries, events, WhatsApp notices) go through the services."""

from django.contrib import admin
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from config.errors import ProsaError
from crm import selectors_sales, services_agenda, services_escalations, services_sales
from crm.models import Deal, DealLabel, Escalation, Meeting, Pipeline, Stage, Task
from tenants.admin import ObjectTenantAdmin, TenantScopedAdmin
from tenants.context import get_current_tenant


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """Choices of the current tenant (Django's read the default manager, which refuses to run
    outside a tenant — the platform view)."""

    def field_choices(self, field, request, model_admin):
        return [(obj.pk, str(obj)) for obj in model_admin._scoped_choices(request, field.related_model)]


@admin.register(Pipeline)
class PipelineAdmin(TenantScopedAdmin):
    list_display = ["name", "is_default", "order", "created_at"]
    search_fields = ["name"]


@admin.register(Stage)
class StageAdmin(TenantScopedAdmin):
    list_display = ["name", "pipeline", "order", "probability", "color"]
    list_filter = [("pipeline", ScopedRelatedFilter)]
    search_fields = ["name"]


@admin.register(DealLabel)
class DealLabelAdmin(TenantScopedAdmin):
    list_display = ["name", "color"]
    search_fields = ["name"]


def _changed_fields(form, allowed) -> dict:
    return {name: form.cleaned_data[name] for name in form.changed_data if name in allowed}


@admin.register(Deal)
class DealAdmin(ObjectTenantAdmin):
    list_display = ["title", "contact", "stage", "value", "currency", "owner", "status", "expected_close_date"]
    list_filter = ["status", ("stage__pipeline", ScopedRelatedFilter), ("stage", ScopedRelatedFilter)]
    search_fields = ["title", "contact__name", "contact__phone"]
    readonly_fields = ["status", "lost_reason", "closed_at", "created_by", "created_at", "updated_at"]
    actions = ["mark_won", "reopen"]
    change_list_template = "admin/crm/deal/change_list.html"

    def save_model(self, request, obj, form, change):
        fields = set(services_sales.DEAL_FIELDS) - {"labels"}
        if change:
            services_sales.deal_update(deal=obj, actor=request.user, **_changed_fields(form, fields))
            return
        data = {name: form.cleaned_data.get(name) for name in fields if name in form.cleaned_data}
        data = {name: value for name, value in data.items() if value is not None or name in ("contact", "owner")}
        deal = services_sales.deal_create(tenant=get_current_tenant(), actor=request.user, **data)
        obj.pk, obj.tenant_id = deal.pk, deal.tenant_id  # save_related() sets the labels on it

    def _each(self, request, queryset, service, done_message):
        count = 0
        for deal in queryset:
            try:
                service(deal=deal, actor=request.user)
                count += 1
            except ProsaError as exc:
                self.message_user(request, f"{deal}: {exc.detail}", level="warning")
        if count:
            self.message_user(request, done_message % {"count": count})

    @admin.action(description=_("Mark selected deals as won"))
    def mark_won(self, request, queryset):
        self._each(request, queryset, services_sales.deal_win, _("%(count)d deal(s) won."))

    @admin.action(description=_("Reopen selected deals"))
    def reopen(self, request, queryset):
        self._each(request, queryset, services_sales.deal_reopen, _("%(count)d deal(s) reopened."))

    def get_urls(self):
        board = path("board/", self.admin_site.admin_view(self.board_view), name="crm_deal_board")
        return [board, *super().get_urls()]

    def board_view(self, request):
        """The open deals of a pipeline by stage; a deal moves with the stage picker of its card."""
        tenant = get_current_tenant()
        if tenant is None or not self.has_view_permission(request):
            self.message_user(request, _("Enter a tenant to see its board."), level="warning")
            return redirect("admin:crm_deal_changelist")
        if request.method == "POST" and self.has_change_permission(request):
            deal = get_object_or_404(Deal.objects.all(), pk=request.POST.get("deal") or 0)
            stage = get_object_or_404(Stage.objects.all(), pk=request.POST.get("stage") or 0)
            try:
                services_sales.deal_move(deal=deal, stage=stage, actor=request.user)
            except ProsaError as exc:
                self.message_user(request, str(exc.detail), level="error")
            return redirect(f"{reverse('admin:crm_deal_board')}?pipeline={stage.pipeline_id}")
        pipelines = list(selectors_sales.pipeline_list(tenant=tenant))
        if not pipelines:
            pipelines = [services_sales.pipeline_default_get_or_create(tenant=tenant)]
        wanted = request.GET.get("pipeline", "")
        pipeline = next((p for p in pipelines if str(p.pk) == wanted), None) or next(
            (p for p in pipelines if p.is_default), pipelines[0]
        )
        columns = selectors_sales.deal_board(tenant=tenant, pipeline=pipeline)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Deals board"),
            "pipelines": pipelines,
            "pipeline": pipeline,
            "columns": columns,
            "stages": [stage for stage, _deals in columns],
            "can_change": self.has_change_permission(request),
        }
        return TemplateResponse(request, "admin/crm/deal/board.html", context)


@admin.register(Task)
class TaskAdmin(TenantScopedAdmin):
    list_display = ["title", "assignee", "due_at", "done", "contact", "deal"]
    list_filter = ["done", "due_at"]
    search_fields = ["title", "notes"]
    readonly_fields = ["reminded_at", "done", "done_at", "completed_by", "created_by", "created_at"]
    raw_id_fields = ["ticket"]
    actions = ["complete"]

    def save_model(self, request, obj, form, change):
        fields = services_agenda.TASK_FIELDS
        if change:
            services_agenda.task_update(task=obj, actor=request.user, **_changed_fields(form, fields))
            return
        data = {name: form.cleaned_data.get(name) for name in fields if name in form.cleaned_data}
        data["notes"] = data.get("notes") or ""
        task = services_agenda.task_create(tenant=get_current_tenant(), actor=request.user, **data)
        obj.pk, obj.tenant_id = task.pk, task.tenant_id

    @admin.action(description=_("Mark selected tasks as done"))
    def complete(self, request, queryset):
        count = 0
        for task in queryset.filter(done=False):
            services_agenda.task_complete(task=task, actor=request.user)
            count += 1
        self.message_user(request, _("%(count)d task(s) done.") % {"count": count})


@admin.register(Meeting)
class MeetingAdmin(TenantScopedAdmin):
    list_display = ["title", "contact", "starts_at", "duration_minutes", "status", "reminder_sent_at", "failure_code"]
    list_filter = ["status", "starts_at"]
    search_fields = ["title", "contact__name", "location"]
    readonly_fields = ["status", "reminder_sent_at", "failure_code", "failure_detail", "failed_at", "created_at"]
    actions = ["cancel"]

    def save_model(self, request, obj, form, change):
        fields = services_agenda.MEETING_FIELDS
        try:
            if change:
                services_agenda.meeting_update(meeting=obj, actor=request.user, **_changed_fields(form, fields))
                return
            data = {name: form.cleaned_data.get(name) for name in fields if name in form.cleaned_data}
            data = {name: value for name, value in data.items() if value is not None}
            meeting = services_agenda.meeting_create(tenant=get_current_tenant(), actor=request.user, **data)
            obj.pk, obj.tenant_id = meeting.pk, meeting.tenant_id
        except ProsaError as exc:
            self.message_user(request, str(exc.detail), level="error")

    @admin.action(description=_("Cancel selected meetings (the contacts are told)"))
    def cancel(self, request, queryset):
        count = 0
        for meeting in queryset.filter(status=Meeting.Status.SCHEDULED):
            services_agenda.meeting_cancel(meeting=meeting, actor=request.user)
            count += 1
        self.message_user(request, _("%(count)d meeting(s) cancelled.") % {"count": count})


@admin.register(Escalation)
class EscalationAdmin(TenantScopedAdmin):
    """Escalations are raised from the inbox or the API; here supervisors take and resolve them."""

    list_display = ["__str__", "ticket", "priority", "status", "raised_by", "assigned_to", "created_at"]
    list_filter = ["status", "priority"]
    search_fields = ["reason", "ticket__contact__name"]
    readonly_fields = ["ticket", "reason", "priority", "status", "raised_by", "assigned_to", "taken_at",
                       "resolved_by", "resolved_at", "created_at"]  # fmt: skip
    actions = ["take"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        # Only the resolution note is editable: saving it resolves the escalation.
        if obj.status != Escalation.Status.RESOLVED and obj.resolution_note.strip():
            services_escalations.escalation_resolve(escalation=obj, actor=request.user, note=obj.resolution_note)

    @admin.action(description=_("Take selected escalations"))
    def take(self, request, queryset):
        for escalation in queryset.exclude(status=Escalation.Status.RESOLVED):
            try:
                services_escalations.escalation_take(escalation=escalation, actor=request.user)
            except ProsaError as exc:
                self.message_user(request, f"{escalation}: {exc.detail}", level="warning")
