import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.models import Role
from tenants.consumers import TenantConsumerMixin, tenant_group, user_group
from tenants.context import tenant_context
from tickets import presence
from tickets.events import layer_message


async def _presence(operation, consumer) -> bool | None:
    """Presence bookkeeping for this socket (Redis, off the event loop)."""
    return await database_sync_to_async(operation)(
        tenant_id=consumer.tenant.pk, user_id=consumer.scope["user"].pk, socket_id=consumer.channel_name
    )


@database_sync_to_async
def _member_queue_ids(user) -> list[int]:
    from tickets.models import Queue

    return list(Queue.objects.filter(members=user).values_list("pk", flat=True))


def ticket_group(tenant_id: int, ticket_id: int) -> str:
    return f"tenant.{tenant_id}.ticket.{ticket_id}"


@database_sync_to_async
def _visible_ticket_id(user, role, ticket_id) -> int | None:
    from tickets.selectors import ticket_list_for_user

    try:
        ticket_id = int(ticket_id)
    except (TypeError, ValueError):
        return None
    return ticket_list_for_user(user=user, role=role).filter(pk=ticket_id).values_list("pk", flat=True).first()


async def groups_for_member(tenant, user, role) -> list[str]:
    """The groups a member's socket joins: the same audience rules as tickets.events."""
    from tickets.events import agents_group, queue_group, staff_group

    groups = [tenant_group(tenant.pk), user_group(tenant.pk, user.pk)]
    if role in (Role.ADMIN, Role.SUPERVISOR):
        groups.append(staff_group(tenant.pk))
    else:
        groups.append(agents_group(tenant.pk))
        groups += [queue_group(tenant.pk, queue_id) for queue_id in await _member_queue_ids(user)]
    return groups


class EventsConsumer(TenantConsumerMixin, AsyncJsonWebsocketConsumer):
    """The real-time stream of one user in one tenant: `{"type": ..., "data": ...}` events.

    Joins the groups whose events this member may see (tickets.events explains the audiences):
    the tenant, the user, and the staff group (admins, supervisors) or the agents group plus the
    groups of the queues the agent belongs to. Queue changes apply from the next connection.
    """

    async def tenant_connect(self):
        # Announced before joining the groups: the others hear the member arrive, the member does not.
        if await _presence(presence.socket_connected, self):
            await self._presence_announce()
        self.groups_joined = await groups_for_member(self.tenant, self.scope["user"], self.membership.role)
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
        if hasattr(self, "groups_joined") and await _presence(presence.socket_disconnected, self):
            await self._presence_announce()

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
        kind = content.get("type")
        if kind == "ping":
            await _presence(presence.socket_alive, self)
            await self.send_json({"type": "pong", "data": {}})
        elif kind == "presence.set":
            await self._presence_set(content.get("status"))
        elif kind in ("ticket.subscribe", "ticket.unsubscribe", "typing"):
            await self._ticket_message(kind, content)
        else:
            await self._error("unknown_type", "Unknown message type.")

    async def _presence_set(self, status) -> None:
        if status not in presence.SETTABLE_STATUSES:
            await self._error("invalid_status", "Status must be online or away.")
            return
        tenant_id, user_id = self.tenant.pk, self.scope["user"].pk
        await database_sync_to_async(presence.status_set)(tenant_id=tenant_id, user_id=user_id, status=status)
        status = await self._presence_announce()
        await self.send_json({"type": "presence.set", "data": {"status": status}})

    async def _presence_announce(self) -> str:
        """The member's status to the tenant's sockets (sent here, on the consumer's loop)."""
        tenant_id, user_id = self.tenant.pk, self.scope["user"].pk
        status = await database_sync_to_async(presence.status_of)(tenant_id=tenant_id, user_id=user_id)
        event = presence.presence_event(user_id=user_id, status=status)
        await self.channel_layer.group_send(tenant_group(tenant_id), layer_message(event))
        await database_sync_to_async(presence.waiting_tickets_offer)(tenant_id=tenant_id, status=status)
        return status

    async def _error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "data": {"code": code, "detail": detail}})

    async def _ticket_message(self, kind: str, content: dict) -> None:
        """Subscribing to a ticket (to see who is typing in it) and typing need the ticket to be
        visible to this member; anything else is answered like a missing ticket."""
        ticket_id = await _visible_ticket_id(self.scope["user"], self.membership.role, content.get("ticket_id"))
        if ticket_id is None:
            await self._error("ticket_not_found", "No such ticket.")
            return
        group = ticket_group(self.tenant.pk, ticket_id)
        if kind == "ticket.subscribe":
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
            await self.send_json({"type": "ticket.subscribed", "data": {"ticket_id": ticket_id}})
        elif kind == "ticket.unsubscribe":
            await self.channel_layer.group_discard(group, self.channel_name)
            if group in self.groups_joined:
                self.groups_joined.remove(group)
            await self.send_json({"type": "ticket.unsubscribed", "data": {"ticket_id": ticket_id}})
        else:
            user = self.scope["user"]
            event = {
                "type": "typing",
                "data": {
                    "ticket_id": ticket_id,
                    "user_id": user.pk,
                    "name": user.name,
                    "typing": bool(content.get("typing", True)),
                },
            }
            await self.channel_layer.group_send(
                group, {**layer_message(event), "type": "prosa.typing", "sender": self.channel_name}
            )

    # Group messages whose handlers never touch the database. Channels' dispatch first closes
    # stale database connections in a worker thread (`aclose_old_connections`) for every message
    # and socket: for an event fanned out to 100 sockets, 100 thread hops — three quarters of the
    # server's CPU per delivered event (py-spy, `make bench-realtime`). These skip it.
    NO_DATABASE_HANDLERS = frozenset({"prosa.event", "prosa.typing"})

    async def dispatch(self, message):
        if message.get("type") in self.NO_DATABASE_HANDLERS:
            with tenant_context(self.tenant):
                await getattr(self, message["type"].replace(".", "_"))(message)
            return
        await super().dispatch(message)

    async def prosa_typing(self, message):
        """Agents' typing indicators reach the other subscribers of the ticket, not the typist."""
        if message["sender"] != self.channel_name:
            await self.prosa_event(message)

    async def prosa_event(self, message):
        """Group messages `{"type": "prosa.event", "text": "<JSON>"}` (tickets.events.layer_message)
        go to the client as they are, not decoded and encoded again; `"event": {...}` is encoded here."""
        text = message.get("text")
        if text is None:
            await self.send_json(message["event"])
        else:
            await self.send(text_data=text)
