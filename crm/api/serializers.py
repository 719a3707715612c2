import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.models import Contact, ContactFieldDefinition, ContactImport, Tag


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color"]
        # Uniqueness (case-insensitive, per tenant) is the service's rule: 409 tag_exists.
        validators = []

    def validate_color(self, value):
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise serializers.ValidationError("Use a hex color such as #22c55e.")
        return value.lower()


class ContactSerializer(serializers.ModelSerializer):
    """A contact as the API and real-time events show it."""

    tags = TagSerializer(many=True, read_only=True)
    display_name = serializers.CharField(
        read_only=True, help_text="The name to show: the name given, else the WhatsApp profile name, else the number."
    )

    class Meta:
        model = Contact
        fields = [
            "id", "name", "display_name", "phone", "wa_id", "profile_name", "email", "avatar", "custom_fields", "tags",
            "opted_out", "notes", "last_message_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["wa_id", "profile_name", "last_message_at", "created_at", "updated_at"]


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class TagRefField(serializers.Field):
    """A tag given by id (a number) or by name (a text; created when missing)."""

    default_error_messages = {"invalid": "A tag is an id (number) or a name (text)."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            return data
        if isinstance(data, str) and data.strip():
            return data.strip()
        self.fail("invalid")

    def to_representation(self, value):
        return value


class ContactWriteSerializer(serializers.Serializer):
    """What a client sends to create or change a contact. Every field is optional on update; `phone`
    is required on create. `tags` replaces the contact's tags; `custom_fields` its field values."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, help_text="Any formatting; stored as E.164 digits.")
    email = serializers.EmailField(required=False, allow_blank=True)
    custom_fields = serializers.DictField(required=False, child=serializers.JSONField(allow_null=True))
    tags = serializers.ListField(child=TagRefField(), required=False, max_length=100)
    opted_out = serializers.BooleanField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True)

    def validate(self, attrs):
        if self.context.get("creating") and not attrs.get("phone"):
            raise serializers.ValidationError({"phone": ["This field is required."]})
        return attrs


class ContactFieldDefinitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactFieldDefinition
        fields = ["id", "key", "label", "field_type", "choices", "required", "order"]
        validators = []  # key uniqueness: the service's rule (409 contact_field_exists)

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            fields["key"].read_only = True  # values are stored under it: it never changes
        return fields


class ContactImportSerializer(serializers.ModelSerializer):
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = ContactImport
        fields = [
            "id", "status", "total_rows", "processed_rows", "created_count", "updated_count", "error_count",
            "errors", "created_by", "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class ContactImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV: name, phone, email, tags (separated by ;) and custom field keys.")
