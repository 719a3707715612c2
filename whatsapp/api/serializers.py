from rest_framework import serializers

from whatsapp.models import Connection


class ConnectionSummarySerializer(serializers.ModelSerializer):
    """What agents and events see of a connection (no credentials, no secrets)."""

    class Meta:
        model = Connection
        fields = ["id", "name", "provider", "status", "display_phone_number", "is_default"]
        read_only_fields = fields
