import json

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from tenants.consumers import TenantConsumerMixin, tenant_group, user_group


class EventsConsumer(TenantConsumerMixin, AsyncJsonWebsocketConsumer):
    """The real-time stream of one user in one tenant: `{"type": ..., "data": ...}` events.

    Joins the tenant's and the user's groups; later capabilities add queue and ticket groups.
    """

    async def tenant_connect(self):
        self.groups_joined = [
            tenant_group(self.tenant.pk),
            user_group(self.tenant.pk, self.scope["user"].pk),
        ]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json(
            {
                "type": "session.ready",
                "data": {"user_id": self.scope["user"].pk, "tenant_id": self.tenant.pk, "role": self.membership.role},
            }
        )

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # A client's malformed frame is answered, not allowed to crash the connection (and log a 500).
        try:
            content = json.loads(text_data) if text_data else None
        except ValueError:
            content = None
        if not isinstance(content, dict):
            await self.send_json(
                {"type": "error", "data": {"code": "invalid_message", "detail": "Send JSON objects with a type."}}
            )
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})
        else:
            await self.send_json({"type": "error", "data": {"code": "unknown_type", "detail": "Unknown message type."}})

    async def prosa_event(self, message):
        """Group messages `{"type": "prosa.event", "event": {...}}` go to the client as they are."""
        await self.send_json(message["event"])
