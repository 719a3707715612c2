"""Real-time events: `{"type": ..., "data": ...}` pushed to the Channels groups allowed to see them,
always after the transaction commits (a rolled-back change is never announced).

Who sees a ticket (same rule as the ticket API): the tenant's admins and supervisors
(`tenant.<id>.staff`), its assignee (`tenant.<id>.user.<uid>`), and while it waits in a queue the
queue's members (`tenant.<id>.queue.<qid>`) — or every agent (`tenant.<id>.agents`) when it has no
queue. Services call the functions below; the consumer joins the groups in connect().
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from tenants.consumers import user_group


def staff_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}.staff"


def agents_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}.agents"


def queue_group(tenant_id: int, queue_id: int) -> str:
    return f"tenant.{tenant_id}.queue.{queue_id}"


def everyone_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}"


def ticket_audience(ticket) -> set[str]:
    groups = {staff_group(ticket.tenant_id)}
    if ticket.assignee_id:
        groups.add(user_group(ticket.tenant_id, ticket.assignee_id))
    if ticket.status == "pending":
        if ticket.queue_id:
            groups.add(queue_group(ticket.tenant_id, ticket.queue_id))
        else:
            groups.add(agents_group(ticket.tenant_id))
    return groups


def publish(groups, event_type: str, data: dict) -> None:
    """Sends after commit (at once outside a transaction)."""
    groups = sorted(set(groups))

    def send():
        layer = get_channel_layer()
        message = {"type": "prosa.event", "event": {"type": event_type, "data": data}}
        for group in groups:
            async_to_sync(layer.group_send)(group, message)

    transaction.on_commit(send)


def _ticket_data(ticket) -> dict:
    from tickets.api.serializers import TicketSerializer

    return TicketSerializer(ticket).data


def ticket_created(ticket) -> None:
    publish(ticket_audience(ticket), "ticket.created", _ticket_data(ticket))


def ticket_updated(ticket, *, previous_audience: set[str] | None = None) -> None:
    """`previous_audience`: who could see the ticket before the change (a transfer or accept moves
    it); they are told too, so their lists drop it."""
    publish(ticket_audience(ticket) | (previous_audience or set()), "ticket.updated", _ticket_data(ticket))


def ticket_deleted(ticket) -> None:
    publish(ticket_audience(ticket), "ticket.deleted", {"id": ticket.pk})


def message_created(message) -> None:
    from tickets.api.serializers import MessageSerializer

    publish(ticket_audience(message.ticket), "message.created", MessageSerializer(message).data)


def message_updated(message) -> None:
    from tickets.api.serializers import MessageSerializer

    publish(ticket_audience(message.ticket), "message.updated", MessageSerializer(message).data)


def contact_updated(contact) -> None:
    from crm.api.serializers import ContactSerializer

    publish({everyone_group(contact.tenant_id)}, "contact.updated", ContactSerializer(contact).data)


def connection_updated(connection) -> None:
    from whatsapp.api.serializers import ConnectionSummarySerializer

    publish({everyone_group(connection.tenant_id)}, "connection.updated", ConnectionSummarySerializer(connection).data)
