"""Payloads of tickets and messages, shared by the REST API and the real-time events."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from rest_framework import serializers

from accounts.models import User
from crm.api.serializers import ContactSerializer, TagSerializer
from tenants.context import require_current_tenant
from tenants.hours import business_hours_validate
from tickets.models import Message, Queue, QuickReply, ScheduledMessage, Ticket


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
            "first_response_at", "closed_at", "rating", "awaiting_rating", "created_at", "updated_at",
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
            "latitude", "longitude", "payload", "sent_at", "created_at", "edited_at", "deleted_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_media_url(self, message) -> str | None:
        """A stored file is served only after a permission check (never its storage URL): fetch it
        with the same token. Media not stored here keeps the provider's link, if it gave one."""
        if message.media_file:
            path = reverse("inbox:message-media", kwargs={"message_id": message.pk})
            request = self.context.get("request")
            return request.build_absolute_uri(path) if request is not None else settings.PUBLIC_URL + path
        return (message.payload or {}).get("media_url") or None


# --- input of the ticket actions -------------------------------------------------------------


class TicketPrioritySerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices)


class TicketTransferSerializer(serializers.Serializer):
    to_user = serializers.IntegerField(required=False, allow_null=True, help_text="A member's user id.")
    to_queue = serializers.IntegerField(required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class TicketCloseSerializer(serializers.Serializer):
    send_farewell = serializers.BooleanField(required=False, default=True)


class TicketTagsSerializer(serializers.Serializer):
    add = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    remove = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)


class TemplateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=16, default="pt_BR")
    components = serializers.ListField(child=serializers.DictField(), required=False, default=list)


class MessageCreateSerializer(serializers.Serializer):
    """JSON, or multipart with `file`. One of text, file, media_url, quick_reply or template."""

    text = serializers.CharField(required=False, allow_blank=True, default="", max_length=4096)
    file = serializers.FileField(required=False, allow_null=True)
    media_url = serializers.URLField(required=False, allow_blank=True, default="")
    quick_reply = serializers.IntegerField(required=False, allow_null=True)
    reply_to = serializers.IntegerField(required=False, allow_null=True)
    template = TemplateSerializer(required=False, allow_null=True)
    internal_note = serializers.BooleanField(required=False, default=False)


# --- queues, quick replies, scheduled messages -------------------------------------------------


class _TenantMembersField(serializers.PrimaryKeyRelatedField):
    """Users with an active membership in the current tenant (anyone else is "does not exist")."""

    def get_queryset(self):
        tenant = require_current_tenant()
        return User.objects.filter(memberships__tenant=tenant, memberships__is_active=True).distinct()


class QueueSerializer(serializers.ModelSerializer):
    members = _TenantMembersField(many=True, required=False)

    class Meta:
        model = Queue
        fields = [
            "id", "name", "color", "greeting_message", "members", "menu_order", "auto_assignment",
            "max_open_per_agent", "business_hours", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]

    def validate_business_hours(self, value):
        try:
            business_hours_validate(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code="invalid_business_hours") from None
        return value

    def validate_name(self, value):
        others = Queue.objects.filter(name__iexact=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("A queue with this name already exists.", code="unique")
        return value


class QuickReplySerializer(serializers.ModelSerializer):
    class Meta:
        model = QuickReply
        fields = ["id", "shortcut", "text", "media_file", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_shortcut(self, value):
        others = QuickReply.objects.filter(shortcut=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("A quick reply with this shortcut already exists.", code="unique")
        return value


class ScheduledMessageSerializer(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket_id")
    created_by = UserSummarySerializer(read_only=True)
    message_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = ScheduledMessage
        fields = ["id", "ticket", "text", "send_at", "status", "created_by", "message_id", "error", "created_at"]
        read_only_fields = ["id", "status", "created_by", "message_id", "error", "created_at"]


class PresenceSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    role = serializers.CharField()
    status = serializers.ChoiceField(choices=["online", "away", "offline"])


class PresenceSetSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["online", "away"])
