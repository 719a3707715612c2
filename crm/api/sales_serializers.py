"""Serializers of the sales pipeline, the agenda and escalations (also the real-time payloads).

Write serializers resolve ids through the tenant-scoped managers, so another tenant's id is
refused as if it did not exist."""

import re

from rest_framework import serializers

from accounts.models import User
from config.api.fields import TenantRelatedField
from crm.models import Contact, Deal, DealActivity, DealLabel, Escalation, Meeting, Pipeline, Stage, Task
from tickets.models import Ticket

MAX_REMINDER_LEAD_MINUTES = 7 * 24 * 60


def _color(value: str) -> str:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise serializers.ValidationError("Use a hex color such as #22c55e.")
    return value.lower()


class TenantDateTimeField(serializers.DateTimeField):
    """A time without an offset is a wall-clock time in the workspace's time zone."""

    def default_timezone(self):
        from zoneinfo import ZoneInfo

        from tenants.context import get_current_tenant

        tenant = get_current_tenant()
        return ZoneInfo(tenant.timezone) if tenant is not None else super().default_timezone()


class _Person(serializers.PrimaryKeyRelatedField):
    """A member by user id (the services check the membership)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", User.objects.filter(is_active=True))
        super().__init__(**kwargs)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)


class ContactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    display_name = serializers.CharField(read_only=True)
    phone = serializers.CharField(read_only=True)


# --- pipelines, stages, labels --------------------------------------------------------------------


class StageSerializer(serializers.ModelSerializer):
    pipeline = TenantRelatedField(Pipeline)

    class Meta:
        model = Stage
        fields = ["id", "pipeline", "name", "order", "color", "probability"]

    def validate_color(self, value):
        return _color(value)

    def validate_probability(self, value):
        if value > 100:
            raise serializers.ValidationError("A percentage: 0 to 100.")
        return value

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            fields["pipeline"].required = False
        return fields


class PipelineSerializer(serializers.ModelSerializer):
    stages = StageSerializer(many=True, read_only=True)
    stage_names = serializers.ListField(
        child=serializers.CharField(max_length=120),
        write_only=True,
        required=False,
        max_length=30,
        help_text="On create: the stages, in order.",
    )

    class Meta:
        model = Pipeline
        fields = ["id", "name", "is_default", "order", "stages", "stage_names", "created_at"]
        read_only_fields = ["created_at"]


class DealLabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = DealLabel
        fields = ["id", "name", "color"]
        validators = []  # uniqueness (case-insensitive): the service's rule, 409 deal_label_exists

    def validate_color(self, value):
        return _color(value)


# --- deals ----------------------------------------------------------------------------------------


class DealSerializer(serializers.ModelSerializer):
    """A deal as the API and the `deal.*` events show it."""

    pipeline = serializers.IntegerField(source="stage.pipeline_id", read_only=True)
    stage_name = serializers.CharField(source="stage.name", read_only=True)
    contact = ContactRefSerializer(read_only=True, allow_null=True)
    owner = UserRefSerializer(read_only=True, allow_null=True)
    labels = DealLabelSerializer(many=True, read_only=True)

    class Meta:
        model = Deal
        fields = [
            "id", "title", "contact", "pipeline", "stage", "stage_name", "value", "currency", "owner", "source",
            "expected_close_date", "status", "lost_reason", "closed_at", "labels", "custom_fields", "budget",
            "authority", "need", "timeline", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class DealWriteSerializer(serializers.Serializer):
    """What a client sends to create or change a deal (every field optional on update; `title` is
    required on create; no `stage` → the first stage of the default pipeline)."""

    title = serializers.CharField(max_length=200, required=False)
    contact = TenantRelatedField(Contact, required=False, allow_null=True)
    stage = TenantRelatedField(Stage, required=False)
    value = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, help_text="ISO 4217, e.g. BRL.")
    owner = _Person(required=False, allow_null=True)
    source = serializers.CharField(max_length=60, required=False, allow_blank=True)
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    labels = serializers.ListField(child=TenantRelatedField(DealLabel), required=False, max_length=50)
    custom_fields = serializers.DictField(required=False, child=serializers.JSONField(allow_null=True))
    budget = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True)
    authority = serializers.CharField(max_length=200, required=False, allow_blank=True)
    need = serializers.CharField(required=False, allow_blank=True)
    timeline = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate(self, attrs):
        if self.context.get("creating") and not (attrs.get("title") or "").strip():
            raise serializers.ValidationError({"title": ["This field is required."]})
        return attrs


class DealMoveSerializer(serializers.Serializer):
    stage = TenantRelatedField(Stage)


class DealLoseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class ActivitySerializer(serializers.ModelSerializer):
    deal = TenantRelatedField(Deal)
    actor = UserRefSerializer(read_only=True, allow_null=True)
    type = serializers.ChoiceField(choices=DealActivity.Type.choices)
    occurred_at = serializers.DateTimeField(required=False)

    class Meta:
        model = DealActivity
        fields = ["id", "deal", "type", "text", "data", "actor", "occurred_at", "created_at"]
        read_only_fields = ["data", "created_at"]


# --- tasks and meetings ---------------------------------------------------------------------------


class TaskSerializer(serializers.ModelSerializer):
    """A task as the API and the `task.*` events show it. Times without an offset are read in the
    workspace's time zone."""

    assignee = UserRefSerializer(read_only=True, allow_null=True)
    contact = ContactRefSerializer(read_only=True, allow_null=True)
    deal = serializers.IntegerField(source="deal_id", read_only=True, allow_null=True)
    ticket = serializers.IntegerField(source="ticket_id", read_only=True, allow_null=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id", "title", "notes", "due_at", "remind_at", "reminded_at", "assignee", "contact", "deal", "ticket",
            "done", "done_at", "overdue", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_overdue(self, task) -> bool:
        from django.utils import timezone

        return not task.done and task.due_at < timezone.now()


class TaskWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    notes = serializers.CharField(required=False, allow_blank=True)
    due_at = TenantDateTimeField(required=False)
    remind_at = TenantDateTimeField(required=False, allow_null=True)
    assignee = _Person(required=False, allow_null=True)
    contact = TenantRelatedField(Contact, required=False, allow_null=True)
    deal = TenantRelatedField(Deal, required=False, allow_null=True)
    ticket = TenantRelatedField(Ticket, required=False, allow_null=True)

    def validate(self, attrs):
        if self.context.get("creating"):
            missing = {name: ["This field is required."] for name in ("title", "due_at") if not attrs.get(name)}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class MeetingSerializer(serializers.ModelSerializer):
    contact = ContactRefSerializer(read_only=True)
    organizer = UserRefSerializer(read_only=True, allow_null=True)
    deal = serializers.IntegerField(source="deal_id", read_only=True, allow_null=True)

    class Meta:
        model = Meeting
        fields = [
            "id", "title", "contact", "deal", "organizer", "starts_at", "duration_minutes", "location", "notes",
            "status", "remind_minutes_before", "reminder_sent_at", "failure_code", "failure_detail", "failed_at",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class MeetingWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    contact = TenantRelatedField(Contact, required=False)
    deal = TenantRelatedField(Deal, required=False, allow_null=True)
    organizer = _Person(required=False, allow_null=True)
    starts_at = TenantDateTimeField(required=False)
    duration_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False)
    location = serializers.CharField(max_length=500, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    remind_minutes_before = serializers.IntegerField(min_value=0, max_value=MAX_REMINDER_LEAD_MINUTES, required=False)

    def validate(self, attrs):
        if self.context.get("creating"):
            missing = {
                name: ["This field is required."] for name in ("title", "contact", "starts_at") if not attrs.get(name)
            }
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class MeetingRescheduleSerializer(serializers.Serializer):
    starts_at = TenantDateTimeField()


# --- escalations ----------------------------------------------------------------------------------


class EscalationSerializer(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket_id", read_only=True)
    ticket_protocol = serializers.IntegerField(source="ticket.protocol", read_only=True)
    contact = ContactRefSerializer(source="ticket.contact", read_only=True)
    raised_by = UserRefSerializer(read_only=True, allow_null=True)
    assigned_to = UserRefSerializer(read_only=True, allow_null=True)
    resolved_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Escalation
        fields = [
            "id", "ticket", "ticket_protocol", "contact", "reason", "priority", "status", "raised_by", "assigned_to",
            "taken_at", "resolved_by", "resolved_at", "resolution_note", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class EscalationCreateSerializer(serializers.Serializer):
    ticket = TenantRelatedField(Ticket)
    reason = serializers.CharField(max_length=2000)
    priority = serializers.ChoiceField(choices=Escalation.Priority.choices, default=Escalation.Priority.NORMAL)


class EscalationResolveSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")
