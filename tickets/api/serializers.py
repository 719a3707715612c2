"""Payloads of tickets and messages, shared by the REST API and the real-time events."""

from rest_framework import serializers

from crm.api.serializers import ContactSerializer, TagSerializer
from tickets.models import Message, Queue, Ticket


class QueueSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Queue
        fields = ["id", "name", "color"]


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()


class TicketSerializer(serializers.ModelSerializer):
    contact = ContactSerializer(read_only=True)
    queue = QueueSummarySerializer(read_only=True)
    assignee = UserSummarySerializer(read_only=True)
    tags = TagSerializer(many=True, read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id", "protocol", "status", "priority", "contact", "connection_id", "queue", "assignee", "tags",
            "is_bot", "unread_count", "last_message_at", "last_message_preview", "last_inbound_at",
            "first_response_at", "closed_at", "rating", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    author = UserSummarySerializer(read_only=True)
    media_url = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id", "ticket_id", "direction", "sender_type", "author", "is_internal_note", "type", "text",
            "status", "error_code", "error_title", "error_detail", "quoted_id", "reactions",
            "media_status", "media_url", "media_mime", "media_size", "media_filename",
            "latitude", "longitude", "payload", "sent_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_media_url(self, message) -> str | None:
        return message.media_file.url if message.media_file else None
