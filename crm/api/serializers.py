from rest_framework import serializers

from crm.models import Contact, Tag


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color"]


class ContactSerializer(serializers.ModelSerializer):
    tags = TagSerializer(many=True, read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id", "name", "phone", "wa_id", "profile_name", "email", "avatar", "custom_fields", "tags",
            "opted_out", "notes", "last_message_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["wa_id", "profile_name", "last_message_at", "created_at", "updated_at"]
