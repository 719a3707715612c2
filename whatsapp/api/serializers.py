from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import TenantRelatedField
from tickets.models import Queue
from whatsapp import services
from whatsapp.choices import ConnectionStatus, Provider
from whatsapp.models import Connection


class ConnectionSummarySerializer(serializers.ModelSerializer):
    """What agents and events see of a connection (no credentials, no secrets)."""

    class Meta:
        model = Connection
        fields = ["id", "name", "provider", "status", "display_phone_number", "is_default"]
        read_only_fields = fields


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection's settings as admins and supervisors see them. Credentials are never shown:
    `has_*` only says whether one is stored."""

    has_access_token = serializers.SerializerMethodField()
    has_app_secret = serializers.SerializerMethodField()
    has_api_key = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id", "name", "provider", "status", "is_default", "display_phone_number",
            "greeting_message", "farewell_message", "out_of_hours_message", "default_queue", "api_base_url",
            "phone_number_id", "waba_id", "graph_api_version", "instance_name",
            "has_access_token", "has_app_secret", "has_api_key",
            "created_at", "updated_at", "last_status_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_access_token(self, obj):
        return bool(obj.access_token)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_app_secret(self, obj):
        return bool(obj.app_secret)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_api_key(self, obj):
        return bool(obj.api_key)


class ConnectionDetailSerializer(ConnectionSerializer):
    """For admins setting the connection up: where the provider must send webhooks and, for the
    Cloud API, the verify token to paste in Meta's App Dashboard."""

    webhook_url = serializers.SerializerMethodField()
    verify_token = serializers.SerializerMethodField()

    class Meta(ConnectionSerializer.Meta):
        fields = [*ConnectionSerializer.Meta.fields, "webhook_url", "verify_token"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_webhook_url(self, obj):
        return services.connection_webhook_url(obj)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_verify_token(self, obj):
        return obj.verify_token if obj.provider == Provider.CLOUD else None


class ConnectionWriteSerializer(serializers.Serializer):
    """Settings an admin sends. Credentials are write-only; on update an omitted or empty credential
    keeps the stored one. The provider is chosen on creation only."""

    name = serializers.CharField(max_length=120, required=False)
    provider = serializers.ChoiceField(choices=Provider.choices, required=False)
    is_default = serializers.BooleanField(required=False)
    greeting_message = serializers.CharField(required=False, allow_blank=True)
    farewell_message = serializers.CharField(required=False, allow_blank=True)
    out_of_hours_message = serializers.CharField(required=False, allow_blank=True)
    default_queue = TenantRelatedField(
        Queue,
        required=False,
        allow_null=True,
        help_text="New tickets go there; empty: the customer picks from the menu.",
    )
    api_base_url = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Evolution server; empty for Meta's Graph API."
    )
    phone_number_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    waba_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    display_phone_number = serializers.CharField(max_length=32, required=False, allow_blank=True)
    graph_api_version = serializers.RegexField(r"^v\d+\.\d+$", max_length=16, required=False)
    instance_name = serializers.RegexField(r"^[A-Za-z0-9_.-]{1,100}$", required=False, allow_blank=True)
    access_token = serializers.CharField(write_only=True, required=False, allow_blank=True)
    app_secret = serializers.CharField(write_only=True, required=False, allow_blank=True)
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True)

    def validate(self, attrs):
        if self.context.get("creating"):
            missing = {name: ["This field is required."] for name in ("name", "provider") if not attrs.get(name)}
            if missing:
                raise serializers.ValidationError(missing)
        else:
            attrs.pop("provider", None)  # immutable: a different provider is a new connection
        return attrs


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status = serializers.ChoiceField(choices=ConnectionStatus.choices)
    display_phone_number = serializers.CharField(required=False)
    verified_name = serializers.CharField(required=False)
    quality_rating = serializers.CharField(required=False)
    state = serializers.CharField(required=False, help_text="Evolution's own word for the session state.")


class ConnectionQRCodeSerializer(serializers.Serializer):
    qrcode = serializers.CharField(allow_null=True, help_text="data:image/png;base64,… — null when already connected.")
    status = serializers.ChoiceField(choices=ConnectionStatus.choices)
