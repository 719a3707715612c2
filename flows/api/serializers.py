from rest_framework import serializers

from flows.models import Flow, FlowRun, FlowTrace, FlowVersion


class FlowSerializer(serializers.ModelSerializer):
    published_version = serializers.IntegerField(
        source="published_version.number", read_only=True, default=None, help_text="Its number, or null."
    )

    class Meta:
        model = Flow
        fields = [
            "id", "name", "description", "trigger_type", "trigger_config", "priority", "is_active",
            "published_version", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class FlowWriteSerializer(serializers.Serializer):
    """Every field is optional on update; `name` is required on create. `graph` (create only) is
    the first version's graph (default: a start node alone)."""

    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True)
    trigger_type = serializers.ChoiceField(choices=Flow.Trigger.choices, required=False)
    trigger_config = serializers.JSONField(required=False)
    priority = serializers.IntegerField(required=False, min_value=0)
    is_active = serializers.BooleanField(required=False)
    graph = serializers.JSONField(required=False)

    def __init__(self, *args, creating: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not creating:
            self.fields.pop("graph")
            for field in self.fields.values():
                field.required = False


class FlowVersionSerializer(serializers.ModelSerializer):
    is_published = serializers.SerializerMethodField()

    class Meta:
        model = FlowVersion
        fields = ["id", "number", "graph", "published_at", "is_published", "created_by", "created_at"]
        read_only_fields = fields

    def get_is_published(self, version) -> bool:
        return version.flow.published_version_id == version.pk


class GraphSerializer(serializers.Serializer):
    graph = serializers.JSONField(help_text="Nodes and edges: see docs/FLOWS.md.")


class ValidateSerializer(serializers.Serializer):
    graph = serializers.JSONField(required=False, help_text="Default: the latest version's graph.")


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Messages by node id ("graph": the graph as a whole).',
    )


class VersionNumberSerializer(serializers.Serializer):
    number = serializers.IntegerField(
        required=False, min_value=1, help_text="Default: latest (publish), previous (rollback)."
    )


class TestTurnSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, max_length=4096, help_text="The customer's message.")
    reply_id = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="A tapped button's id.")
    fire_timer = serializers.BooleanField(required=False, default=False, help_text="End a wait node's timer now.")
    state = serializers.JSONField(required=False, help_text="The `state` of the previous answer; omit to start.")
    contact = serializers.JSONField(required=False, help_text="Simulated contact: name, phone, email, fields, tags.")
    number = serializers.IntegerField(required=False, min_value=1, help_text="Version to test (default: latest).")
    seed = serializers.IntegerField(required=False, help_text="Fixes the randomizer's choices.")


class TestResultSerializer(serializers.Serializer):
    replies = serializers.ListField(child=serializers.DictField())
    trace = serializers.ListField(child=serializers.DictField())
    status = serializers.ChoiceField(choices=FlowRun.Status.choices)
    state = serializers.DictField()


class FlowTraceSerializer(serializers.ModelSerializer):
    class Meta:
        model = FlowTrace
        fields = ["id", "node_id", "node_type", "input", "output", "at"]
        read_only_fields = fields


class FlowRunSerializer(serializers.ModelSerializer):
    flow_name = serializers.CharField(source="flow.name", read_only=True)
    version = serializers.IntegerField(source="flow_version.number", read_only=True)
    traces = FlowTraceSerializer(many=True, read_only=True)

    class Meta:
        model = FlowRun
        fields = [
            "id", "ticket", "flow", "flow_name", "version", "status", "awaiting", "current_node", "variables",
            "retries", "wait_until", "step_count", "trigger", "error", "started_at", "ended_at", "traces",
        ]  # fmt: skip
        read_only_fields = fields
