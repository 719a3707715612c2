"""Back office of flows: the flow and its trigger, its versions (publish, roll back), and the runs
on tickets with the trace of every executed node (read-only)."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from config.errors import ProsaError
from flows import schema, selectors, services
from flows.models import Flow, FlowRun, FlowTrace, FlowVersion
from flows.node_forms import node_form_descriptions
from tenants.admin import ObjectTenantAdmin, ReadOnlyInline, is_platform_view
from tenants.context import get_current_tenant, tenant_context

EDITOR_COMMANDS = ("save", "publish", "test", "versions", "load", "rollback")

OUTPUT_LABELS = {
    "next": _("next"),
    "fallback": _("fallback"),
    "true": _("true"),
    "false": _("false"),
    "success": _("success"),
    "error": _("error"),
}

# The editor's own words (static/flows/editor.js gets them translated in its config).
EDITOR_STRINGS = {
    "saved": _("Saved version"),
    "published": _("Published version"),
    "errors": _("Fix the errors shown on the nodes."),
    "invalid_json": _("The settings are not valid JSON."),
    "invalid_graph": _("This is not a flow graph (an object with nodes and edges)."),
    "ended": _("The run ended"),
    "error": _("Something went wrong."),
    "raw_json": _("Raw JSON"),
    "form": _("Form"),
    "remove": _("Remove"),
    "move_up": _("Move up"),
    "move_down": _("Move down"),
    "add": _("Add"),
    "none": _("— none —"),
    "outputs": _("Outputs"),
    "output_to": _("Goes to"),
    "output_end": _("— ends the run —"),
    "variables": _("Variables (click to insert)"),
    "message_kind": _("Send"),
    "template_pick": _("— choose an approved template —"),
    "template_missing": _("not among the approved templates"),
    "template_language": _("Language"),
    "template_variable": _("Variable %(name)s"),
    "template_none": _("No approved templates: sync them in WhatsApp › Message templates."),
    "seconds": _("seconds"),
    "minutes": _("minutes"),
    "hours": _("hours"),
    "days": _("days"),
    "id_taken": _("Another node has this id."),
    "id_invalid": _("Use 1 to 64 letters, digits, _ . : or -."),
    "unsaved": _("Unsaved changes"),
    "version": _("Version"),
    "draft": _("draft"),
    "current": _("published now"),
    "was_published": _("published before"),
    "open": _("Open"),
    "republish": _("Publish this version again"),
    "rolled_back": _("Published again: version"),
    "loaded": _("Opened version %(n)s: saving makes it the draft."),
    "rows_help": _("Each row is an output of the node."),
}


class FlowVersionInline(ReadOnlyInline):
    model = FlowVersion
    fields = ["number", "published_at", "created_by", "created_at", "node_count"]
    readonly_fields = fields
    ordering = ["-number"]

    @admin.display(description=_("nodes"))
    def node_count(self, version):
        return len((version.graph or {}).get("nodes", []))


class FlowForm(forms.ModelForm):
    graph = forms.JSONField(
        label=_("graph (latest version)"),
        required=False,
        help_text=_("Nodes and edges (docs/FLOWS.md). Saving stores a draft; publish it with the action."),
        widget=forms.Textarea(attrs={"rows": 16, "cols": 100, "style": "font-family: monospace"}),
    )

    class Meta:
        model = Flow
        fields = ["name", "description", "trigger_type", "trigger_config", "priority", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            latest = self.instance.versions.order_by("-number").first()
            self.fields["graph"].initial = latest.graph if latest else None

    def clean(self):
        cleaned = super().clean()
        try:
            services.trigger_config_clean(
                trigger_type=cleaned.get("trigger_type") or Flow.Trigger.MANUAL,
                config=cleaned.get("trigger_config") or {},
            )
        except ProsaError as exc:
            raise ValidationError({"trigger_config": str(exc.fields.get("trigger_config") or exc.detail)}) from None
        if cleaned.get("is_active") and (self.instance.pk is None or self.instance.published_version_id is None):
            raise ValidationError({"is_active": _("Publish a version of the flow before activating it.")})
        return cleaned


@admin.register(Flow)
class FlowAdmin(ObjectTenantAdmin):
    form = FlowForm
    list_display = ["name", "trigger_type", "is_active", "published_number", "priority", "updated_at"]
    list_filter = ["trigger_type", "is_active"]
    list_select_related = ["published_version"]
    search_fields = ["name"]
    readonly_fields = ["published_number"]
    inlines = [FlowVersionInline]
    actions = ["publish_latest", "rollback"]

    @admin.display(description=_("editor"))
    def editor_link(self, flow):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:flows_flow_editor", args=[flow.pk]), _("Open the editor")
        )

    def get_list_display(self, request):
        display = list(super().get_list_display(request))
        return display if is_platform_view(request) else [*display, "editor_link"]

    # --- the visual editor (static/flows/editor.js, on the vendored drawflow) -----------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:flow_id>/editor/", view(self.editor_view), name="flows_flow_editor"),
            path("<int:flow_id>/editor/<str:command>", view(self.editor_command), name="flows_flow_editor_command"),
            *super().get_urls(),
        ]

    def _editable_flow(self, request, flow_id: int) -> Flow:
        if is_platform_view(request):
            raise PermissionDenied  # edited inside its workspace
        flow = Flow.objects.select_related("published_version").filter(pk=flow_id).first()
        if flow is None or not self.has_view_permission(request, flow):
            raise Http404
        return flow

    def editor_view(self, request, flow_id: int):
        flow = self._editable_flow(request, flow_id)
        latest = selectors.flow_version_list(flow=flow).first()
        fixed_outputs = {kind: list(schema.node_outputs({"type": kind})) for kind in schema.NODE_TYPES}
        context = {
            **self.admin_site.each_context(request),
            "title": _("Flow editor: %(name)s") % {"name": flow.name},
            "flow": flow,
            "opts": self.model._meta,
            "can_manage": self.has_manage_permission(request),
            "editor_config": {
                "graph": latest.graph if latest else services.EMPTY_GRAPH,
                "version": latest.number if latest else None,
                "published": flow.published_version.number if flow.published_version_id else None,
                "outputs": fixed_outputs,
                "examples": schema.NODE_EXAMPLES,
                "output_labels": {handle: str(label) for handle, label in OUTPUT_LABELS.items()},
                "statuses": {status: str(label) for status, label in FlowRun.Status.choices},
                "forms": node_form_descriptions(),
                "choices": selectors.editor_choices(tenant=flow.tenant, flow=flow),
                "i18n": {key: str(text) for key, text in EDITOR_STRINGS.items()},
                "urls": {
                    command: reverse("admin:flows_flow_editor_command", args=[flow.pk, command])
                    for command in EDITOR_COMMANDS
                },
            },
        }
        return TemplateResponse(request, "admin/flows/flow/editor.html", context)

    def editor_command(self, request, flow_id: int, command: str):
        """JSON commands of the editor: `save` (a draft; answers the validation errors by node),
        `publish` (save, then publish), `test` (one turn of the test console on the draft),
        `versions` (the list), `load` (one version's graph) and `rollback` (publish an earlier
        published version: `number`, or the one before the current)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        flow = self._editable_flow(request, flow_id)
        if not self.has_manage_permission(request):
            raise PermissionDenied
        if command not in EDITOR_COMMANDS:
            raise Http404
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JsonResponse({"code": "invalid_json", "detail": str(_("The body is not JSON."))}, status=400)
        number = body.get("number")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            detail = str(_("The version number is invalid."))
            return JsonResponse({"code": "invalid_json", "detail": detail}, status=400)
        try:
            if command == "test":
                result = services.flow_test(
                    flow=flow,
                    state=body.get("state") if isinstance(body.get("state"), dict) else None,
                    text=body.get("text") if isinstance(body.get("text"), str) else None,
                    fire_timer=bool(body.get("fire_timer")),
                    contact=body.get("contact") if isinstance(body.get("contact"), dict) else None,
                )
                return JsonResponse(result)
            if command == "versions":
                return JsonResponse(self._versions(flow))
            if command == "load":
                version = selectors.flow_version_get(flow=flow, number=number)
                return JsonResponse({"version": version.number, "graph": version.graph})
            if command == "rollback":
                version = services.flow_rollback(flow=flow, number=number)
                return JsonResponse({**self._versions(flow), "published": version.number})
            graph = body.get("graph")
            version = services.flow_version_save(flow=flow, graph=graph, actor=request.user)
            errors = services.flow_validate(flow=flow, graph=graph)
            published = None
            if command == "publish" and not errors:
                published = services.flow_publish(flow=flow, number=version.number).number
            return JsonResponse({"version": version.number, "published": published, "errors": errors})
        except ProsaError as exc:
            return JsonResponse(
                {"code": exc.code, "detail": str(exc.detail), "fields": exc.fields}, status=exc.status_code
            )

    @staticmethod
    def _versions(flow: Flow) -> dict:
        flow.refresh_from_db(fields=["published_version"])
        return {
            "published": flow.published_version.number if flow.published_version_id else None,
            "versions": [
                {
                    "number": version.number,
                    "published_at": version.published_at.isoformat() if version.published_at else None,
                    "created_at": version.created_at.isoformat(),
                    "created_by": str(version.created_by or ""),
                    "nodes": len((version.graph or {}).get("nodes", [])),
                }
                for version in selectors.flow_version_list(flow=flow).select_related("created_by")[:50]
            ],
        }

    @admin.display(description=_("published version"))
    def published_number(self, flow):
        return flow.published_version.number if flow.published_version_id else "—"

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in FlowForm.Meta.fields if name in form.cleaned_data}
        tenant = obj.tenant if obj.tenant_id else get_current_tenant()
        graph = form.cleaned_data.get("graph")
        with tenant_context(tenant):
            if change:
                saved = services.flow_update(flow=obj, **data)
                if "graph" in form.changed_data and graph is not None:
                    services.flow_version_save(flow=saved, graph=graph, actor=request.user)
            else:
                saved = services.flow_create(tenant=tenant, actor=request.user, graph=graph, **data)
        obj.pk, form.instance = saved.pk, saved

    def delete_model(self, request, obj):
        with tenant_context(obj.tenant):
            services.flow_delete(flow=obj)

    def _each(self, request, queryset, service, done_message):
        done = 0
        for flow in queryset:
            with tenant_context(flow.tenant):
                try:
                    version = service(flow=flow)
                except ProsaError as exc:
                    detail = exc.detail
                    if exc.fields.get("graph"):
                        detail = f"{detail} {exc.fields['graph']}"
                    self.message_user(request, f"{flow}: {detail}", messages.ERROR)
                    continue
            done += 1
            self.message_user(request, done_message % {"flow": flow, "number": version.number}, messages.SUCCESS)

    @admin.action(description=_("Publish the latest version"), permissions=["manage"])
    def publish_latest(self, request, queryset):
        self._each(request, queryset, services.flow_publish, _("%(flow)s: version %(number)d published."))

    @admin.action(description=_("Roll back to the previous published version"), permissions=["manage"])
    def rollback(self, request, queryset):
        self._each(request, queryset, services.flow_rollback, _("%(flow)s: back to version %(number)d."))


class FlowTraceInline(ReadOnlyInline):
    model = FlowTrace
    fields = ["at", "node_id", "node_type", "input", "output"]
    readonly_fields = fields
    ordering = ["at", "id"]


@admin.register(FlowRun)
class FlowRunAdmin(ObjectTenantAdmin):
    list_display = ["flow", "ticket", "status", "current_node", "step_count", "started_at", "ended_at"]
    list_filter = ["status"]
    list_select_related = ["flow", "ticket__contact"]
    search_fields = ["flow__name", "ticket__protocol"]
    inlines = [FlowTraceInline]
    actions = ["stop_runs"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in FlowRun._meta.fields if field.name != "tenant"]

    @admin.action(description=_("Stop the selected runs (hand the tickets to people)"), permissions=["manage"])
    def stop_runs(self, request, queryset):
        stopped = 0
        for run in queryset:
            with tenant_context(run.tenant):
                was_active = run.is_active
                services.flow_run_stop(run=run)
            stopped += int(was_active)
        self.message_user(request, _("%(count)d runs stopped.") % {"count": stopped}, messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
