from rest_framework import serializers

from campaigns.models import Campaign, CampaignRecipient
from config.api.fields import TenantRelatedField
from crm.models import Contact, Tag
from whatsapp.models import Connection, MessageTemplate


class CampaignSerializer(serializers.ModelSerializer):
    audience_tags = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    connection_name = serializers.CharField(source="connection.name", read_only=True)
    template_name = serializers.CharField(source="template.name", read_only=True, default=None)

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "status", "connection", "connection_name", "template", "template_name", "template_params",
            "text_variations", "media_url", "media_type", "audience_tags", "audience_filter", "scheduled_at",
            "send_window", "rate_per_second", "delay_min_ms", "delay_max_ms", "pause_every", "pause_seconds",
            "next_run_at", "started_at", "finished_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class CampaignWriteSerializer(serializers.Serializer):
    """A draft. Every field is optional on update; `name` and `connection` are required on create.
    `audience_tags` / `audience_contacts` replace the sets (ids)."""

    name = serializers.CharField(max_length=200)
    connection = TenantRelatedField(model=Connection)
    template = TenantRelatedField(model=MessageTemplate, allow_null=True, required=False)
    template_params = serializers.DictField(child=serializers.DictField(child=serializers.CharField()), required=False)
    text_variations = serializers.ListField(child=serializers.CharField(max_length=4096), required=False, max_length=20)
    media_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    media_type = serializers.ChoiceField(choices=Campaign.MediaType.choices, required=False, allow_blank=True)
    audience_tags = TenantRelatedField(model=Tag, many=True, required=False)
    audience_contacts = TenantRelatedField(model=Contact, many=True, required=False)
    audience_filter = serializers.DictField(required=False)
    send_window = serializers.DictField(required=False)
    rate_per_second = serializers.FloatField(required=False, allow_null=True, min_value=0.01)
    delay_min_ms = serializers.IntegerField(required=False, min_value=0)
    delay_max_ms = serializers.IntegerField(required=False, min_value=0)
    pause_every = serializers.IntegerField(required=False, min_value=0)
    pause_seconds = serializers.IntegerField(required=False, min_value=0)

    def __init__(self, *args, creating: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not creating:
            for field in self.fields.values():
                field.required = False


class CampaignScheduleSerializer(serializers.Serializer):
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Empty: now.")


class ScheduleResultSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    missing_variables = serializers.IntegerField(help_text="Recipients marked failed: a variable has no value.")
    campaign = CampaignSerializer()


class AudienceUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV with a phone column (phone/number/telefone/whatsapp) and optionally name."
    )


class RecipientSerializer(serializers.ModelSerializer):
    contact_name = serializers.CharField(source="contact.display_name", read_only=True)

    class Meta:
        model = CampaignRecipient
        fields = [
            "id", "contact", "contact_name", "to", "status", "provider_message_id", "error_code", "error_reason",
            "attempts", "sent_at", "delivered_at", "read_at", "replied_at", "failed_at", "opted_out_at",
        ]  # fmt: skip
        read_only_fields = fields
