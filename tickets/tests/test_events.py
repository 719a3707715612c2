"""Real-time events reach exactly the groups allowed to see the ticket, only after commit."""

import json

from accounts.models import Role
from tickets import events
from tickets.models import Ticket
from tickets.tests.factories import MessageFactory, QueueFactory, TicketFactory


def test_a_queued_pending_ticket_is_seen_by_staff_and_the_queue_not_by_all_agents(tenant):
    queue = QueueFactory(tenant=tenant)
    ticket = TicketFactory(tenant=tenant, queue=queue, status=Ticket.Status.PENDING)
    assert events.ticket_audience(ticket) == {
        f"tenant.{tenant.pk}.staff",
        f"tenant.{tenant.pk}.queue.{queue.pk}",
    }


def test_an_open_ticket_is_seen_by_staff_and_its_assignee_only(tenant, make_member):
    agent = make_member(tenant, Role.AGENT)
    ticket = TicketFactory(tenant=tenant, status=Ticket.Status.OPEN, assignee=agent)
    assert events.ticket_audience(ticket) == {f"tenant.{tenant.pk}.staff", f"tenant.{tenant.pk}.user.{agent.pk}"}


def test_a_pending_ticket_without_queue_is_offered_to_every_agent(tenant):
    ticket = TicketFactory(tenant=tenant, status=Ticket.Status.PENDING, queue=None)
    assert f"tenant.{tenant.pk}.agents" in events.ticket_audience(ticket)


def test_message_created_is_sent_after_commit_with_the_api_payload(
    tenant, layer_listener, django_capture_on_commit_callbacks
):
    message = MessageFactory(tenant=tenant, text="Olá, preciso de ajuda")
    staff = layer_listener.listen(f"tenant.{tenant.pk}.staff")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events.message_created(message)
    assert len(callbacks) == 1  # nothing is sent before commit
    callbacks[0]()
    received = layer_listener.receive(staff)
    assert received["type"] == "prosa.event"
    event = json.loads(received["text"])  # encoded once for every socket, forwarded as it is
    assert event["type"] == "message.created"
    assert event["data"]["id"] == message.pk
    assert event["data"]["text"] == "Olá, preciso de ajuda"
    assert event["data"]["ticket_id"] == message.ticket_id


def test_the_pubsub_publisher_names_and_shards_channels_as_the_layer_does():
    """Events are PUBLISHed from synchronous code without the layer's event loop (one pipeline per
    commit): the channel and the shard of each group must be exactly the ones the layer's own
    group_send and its subscribers use."""
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer

    hosts = [f"redis://127.0.0.1:6379/{db}" for db in (1, 2, 3)]
    layer = RedisPubSubChannelLayer(hosts=hosts, prefix="pinned")
    loop_layer = RedisPubSubLoopLayer(hosts=hosts, prefix="pinned", channel_layer=layer)
    publisher = events._pubsub_publisher(layer)
    groups = [f"tenant.{n}.staff" for n in range(12)] + ["tenant.7.user.3", "tenant.7.queue.9"]
    for group in groups:
        name = loop_layer._get_group_channel_name(group)
        assert publisher.channel(group) == (loop_layer._shards.index(loop_layer._get_shard(name)), name)
    assert {publisher.channel(group)[0] for group in groups} == {0, 1, 2}  # all shards are used
    assert [client.connection_pool.connection_kwargs["db"] for client in publisher.clients] == [1, 2, 3]
    assert events._pubsub_publisher(RedisChannelLayer(hosts=hosts)) is None  # the queue layer keeps its own path
