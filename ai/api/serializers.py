from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ai.models import AIAgent, AISettings, DealQualification, Feature, MessageTranscript, TicketInsight
from ai.presets import PRESETS
from ai.services import COMPOSE_ACTIONS, COMPOSE_LANGUAGES, COMPOSE_MAX_CHARS
from config.api.fields import TenantRelatedField
from tickets.models import Queue
from whatsapp.models import Connection


class PresetSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    base_url = serializers.CharField()
    chat_model = serializers.CharField()
    embeddings_model = serializers.CharField()
    transcription_model = serializers.CharField()
    needs_api_key = serializers.BooleanField()


class AISettingsSerializer(serializers.ModelSerializer):
    """The API key is write-only: reads say only whether one is stored."""

    configured = serializers.SerializerMethodField()
    api_key_set = serializers.SerializerMethodField()
    presets = serializers.SerializerMethodField()

    class Meta:
        model = AISettings
        fields = [
            "configured", "preset", "base_url", "api_key_set", "chat_model", "embeddings_model",
            "transcription_model", "timeout_seconds", "enabled", "ticket_categories", "summarize_on_close",
            "auto_transcribe", "updated_at", "presets",
        ]  # fmt: skip

    def get_configured(self, obj) -> bool:
        return obj is not None and obj.pk is not None and obj.is_configured

    def get_api_key_set(self, obj) -> bool:
        return bool(obj.api_key)

    def get_presets(self, obj) -> list[dict]:
        return PresetSerializer(PRESETS.values(), many=True).data


class AISettingsWriteSerializer(serializers.Serializer):
    preset = serializers.ChoiceField(choices=[*PRESETS, "custom"], default="custom")
    base_url = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    api_key = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default=None, write_only=True,
        help_text=_("Omit or null to keep the stored key; an empty string removes it."),
    )  # fmt: skip
    chat_model = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    embeddings_model = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    transcription_model = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=300, default=30)
    enabled = serializers.BooleanField(default=True)
    ticket_categories = serializers.ListField(
        child=serializers.CharField(max_length=80), required=False, default=list, max_length=50
    )
    summarize_on_close = serializers.BooleanField(default=False)
    auto_transcribe = serializers.BooleanField(default=True)


class UsageFeatureSerializer(serializers.Serializer):
    feature = serializers.ChoiceField(choices=Feature.choices)
    requests = serializers.IntegerField()
    failed = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    configured = serializers.BooleanField()
    month = serializers.CharField(help_text="YYYY-MM (UTC)")
    limit = serializers.IntegerField(help_text=_("Requests a month in the workspace's plan."))
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    rate_limit_per_minute = serializers.IntegerField()
    by_feature = UsageFeatureSerializer(many=True)


class TicketInsightSerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketInsight
        fields = ["id", "ticket", "summary", "summarized_at", "sentiment", "category", "classified_at", "updated_at"]
        read_only_fields = fields


class ComposeSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=COMPOSE_MAX_CHARS)
    action = serializers.ChoiceField(choices=COMPOSE_ACTIONS)
    target_language = serializers.ChoiceField(choices=COMPOSE_LANGUAGES, required=False, allow_null=True)

    def validate(self, attrs):
        if attrs["action"] == "translate" and not attrs.get("target_language"):
            raise serializers.ValidationError({"target_language": _("Say which language to translate into.")})
        return attrs


class ComposeResultSerializer(serializers.Serializer):
    text = serializers.CharField()


class GroundingArticleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class SuggestedRepliesSerializer(serializers.Serializer):
    replies = serializers.ListField(child=serializers.CharField())
    articles = GroundingArticleSerializer(many=True, help_text=_("Knowledge base articles the replies drew on."))


class MessageTranscriptSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageTranscript
        fields = ["id", "message", "text", "language", "model", "created_at", "updated_at"]
        read_only_fields = fields


class DealQualificationSerializer(serializers.ModelSerializer):
    budget = serializers.DecimalField(source="deal.budget", max_digits=14, decimal_places=2, allow_null=True)
    authority = serializers.CharField(source="deal.authority")
    need = serializers.CharField(source="deal.need")
    timeline = serializers.CharField(source="deal.timeline")

    class Meta:
        model = DealQualification
        fields = ["id", "deal", "budget", "authority", "need", "timeline", "evidence", "model", "updated_at"]
        read_only_fields = fields


class AIConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    model = serializers.CharField()
    latency_ms = serializers.IntegerField()


class _NameList(serializers.ListField):
    child = serializers.CharField(max_length=80)


class AIAgentSerializer(serializers.ModelSerializer):
    connections = TenantRelatedField(model=Connection, many=True, required=False)
    queues = TenantRelatedField(model=Queue, many=True, required=False)
    handoff_queue = TenantRelatedField(model=Queue, required=False, allow_null=True)
    knowledge_tags = _NameList(required=False, max_length=50)
    knowledge_categories = _NameList(required=False, max_length=50)

    class Meta:
        model = AIAgent
        fields = [
            "id", "name", "instructions", "language", "knowledge_tags", "knowledge_categories", "connections",
            "queues", "active", "answers_new_tickets", "business_hours", "max_bot_turns", "handoff_queue",
            "handoff_on_negative_sentiment", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_max_bot_turns(self, value):
        if not 1 <= value <= 50:
            raise serializers.ValidationError("Between 1 and 50.", code="invalid")
        return value
