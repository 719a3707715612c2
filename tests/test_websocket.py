"""The WebSocket endpoint /ws/: authentication, tenant membership, tenant groups, ping.

Most tests drive config.asgi.application in-process with Channels' WebsocketCommunicator; the last
ones start a real daphne on a free port, against this test database and Redis, and connect with a
real WebSocket client (close codes over the wire are not the same thing as in-process).

The consumer reaches the database from worker threads, so these tests commit (transactional_db).
"""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.urls import path
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Membership, Role
from accounts.services import TENANT_CLAIM, tokens_issue
from accounts.tests.factories import MembershipFactory, UserFactory
from config.asgi import application
from config.ws_auth import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, JWTOrSessionAuthMiddleware
from tenants.consumers import TenantConsumerMixin, tenant_group, user_group
from tenants.context import get_current_tenant
from tenants.tests.factories import TenantFactory
from tests.asgi_server import daphne_serving

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture
def world(transactional_db):
    a = TenantFactory(slug="ws-a", name="WS A")
    b = TenantFactory(slug="ws-b", name="WS B")
    admin_a = MembershipFactory(tenant=a, role=Role.ADMIN).user
    agent_b = MembershipFactory(tenant=b, role=Role.AGENT).user
    return {"a": a, "b": b, "admin_a": admin_a, "agent_b": agent_b}


def _access(user, tenant) -> str:
    return tokens_issue(user=user, tenant=tenant).access


def _run(coroutine_function, *args):
    return async_to_sync(coroutine_function)(*args)


async def _open(query: str = "", headers=None):
    communicator = WebsocketCommunicator(application, f"/ws/{query}", headers=[ORIGIN, *(headers or [])])
    connected, _subprotocol = await communicator.connect(timeout=5)
    return communicator, connected


async def _expect_arrival(communicator, user) -> None:
    """A member connecting later is announced to the sockets already there."""
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "presence.updated",
        "data": {"user_id": user.pk, "status": "online"},
    }


async def _refused(query: str = "", headers=None):
    """Accepted, then closed with an application code: what the client sees as the close code."""
    communicator, connected = await _open(query, headers)
    assert connected is True
    closing = await communicator.receive_output(timeout=5)
    # What the server does next: the socket is gone, the consumer hears so. (Its pending channel
    # layer read can take seconds to unwind; the harness cancels it after the short wait.)
    await communicator.disconnect(code=closing.get("code", 1000), timeout=0.2)
    return closing


# --- Authentication ------------------------------------------------------------------------


def test_a_valid_token_connects_to_its_tenant(world):
    token = _access(world["admin_a"], world["a"])

    async def scenario():
        communicator, connected = await _open(f"?token={token}")
        ready = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return connected, ready

    connected, ready = _run(scenario)
    assert connected is True
    assert ready == {
        "type": "session.ready",
        "data": {"user_id": world["admin_a"].pk, "tenant_id": world["a"].pk, "role": "admin"},
    }


def test_a_token_picks_the_tenant_for_a_member_of_several(world):
    MembershipFactory(tenant=world["b"], user=world["admin_a"], role=Role.SUPERVISOR)
    token = _access(world["admin_a"], world["b"])

    async def scenario():
        communicator, _ = await _open(f"?token={token}")
        ready = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return ready

    assert _run(scenario)["data"] == {"user_id": world["admin_a"].pk, "tenant_id": world["b"].pk, "role": "supervisor"}


def _expired_access(user, tenant) -> str:
    token = AccessToken.for_user(user)
    token[TENANT_CLAIM] = tenant.pk
    token.set_iat(at_time=timezone.now() - timedelta(hours=2))
    token.set_exp(from_time=timezone.now() - timedelta(hours=2), lifetime=timedelta(minutes=15))
    return str(token)


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(lambda w: "not-a-jwt", "invalid_or_expired_token", id="garbage"),
        pytest.param(lambda w: _expired_access(w["admin_a"], w["a"]), "invalid_or_expired_token", id="expired"),
        pytest.param(
            lambda w: tokens_issue(user=w["admin_a"], tenant=w["a"]).refresh, "invalid_or_expired_token", id="refresh"
        ),
        pytest.param(lambda w: _access(w["admin_a"], w["a"])[:-4] + "AAAA", "invalid_or_expired_token", id="forged"),
    ],
)
def test_a_bad_token_closes_with_4401(world, make_token, reason):
    closing = _run(_refused, f"?token={make_token(world)}")
    assert closing == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED, "reason": reason}
    assert CLOSE_UNAUTHENTICATED == 4401


def test_a_revoked_token_closes_with_4401(world):
    token = _access(world["admin_a"], world["a"])
    world["admin_a"].tokens_valid_after = timezone.now() + timedelta(seconds=5)
    world["admin_a"].save(update_fields=["tokens_valid_after"])
    closing = _run(_refused, f"?token={token}")
    assert closing == {"type": "websocket.close", "code": 4401, "reason": "token_revoked"}


def test_an_inactive_user_closes_with_4401(world):
    token = _access(world["admin_a"], world["a"])
    world["admin_a"].is_active = False
    world["admin_a"].save(update_fields=["is_active"])
    closing = _run(_refused, f"?token={token}")
    assert closing == {"type": "websocket.close", "code": 4401, "reason": "user_inactive"}


def test_no_credentials_close_with_4401(world):
    closing = _run(_refused, "")
    assert closing == {"type": "websocket.close", "code": 4401, "reason": "not_authenticated"}


def test_an_inactive_membership_closes_with_4403(world):
    token = _access(world["admin_a"], world["a"])
    Membership.all_tenants.filter(user=world["admin_a"], tenant=world["a"]).update(is_active=False)
    closing = _run(_refused, f"?token={token}")
    assert closing == {"type": "websocket.close", "code": CLOSE_FORBIDDEN, "reason": "no_active_membership"}
    assert CLOSE_FORBIDDEN == 4403


def test_a_token_for_a_tenant_the_user_does_not_belong_to_closes_with_4403(world):
    """A validly signed token naming tenant B for A's admin (e.g. membership since removed)."""
    token = AccessToken.for_user(world["admin_a"])
    token[TENANT_CLAIM] = world["b"].pk
    closing = _run(_refused, f"?token={token}")
    assert closing == {"type": "websocket.close", "code": 4403, "reason": "no_active_membership"}


def test_an_inactive_tenant_closes_with_4403(world):
    token = _access(world["admin_a"], world["a"])
    type(world["a"]).objects.filter(pk=world["a"].pk).update(is_active=False)
    closing = _run(_refused, f"?token={token}")
    assert closing == {"type": "websocket.close", "code": 4403, "reason": "no_active_membership"}


def test_a_browser_session_connects_to_its_tenant(world, client):
    client.force_login(world["admin_a"])
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        communicator, connected = await _open("", headers=[(b"cookie", cookie)])
        ready = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return connected, ready

    connected, ready = _run(scenario)
    assert connected is True
    assert ready["data"] == {"user_id": world["admin_a"].pk, "tenant_id": world["a"].pk, "role": "admin"}


def test_a_session_without_membership_closes_with_4403(world, client):
    client.force_login(UserFactory())
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    closing = _run(_refused, "", [(b"cookie", cookie)])
    assert closing == {"type": "websocket.close", "code": 4403, "reason": "no_active_membership"}


def test_a_foreign_origin_is_refused_before_anything_else(world):
    token = _access(world["admin_a"], world["a"])

    async def scenario():
        communicator = WebsocketCommunicator(
            application,
            f"/ws/?token={token}",
            headers=[(b"origin", b"https://evil.example.com")],
        )
        connected, _code = await communicator.connect(timeout=5)
        return connected

    assert _run(scenario) is False


# --- Messages and groups ------------------------------------------------------------------------


def test_ping_gets_pong_and_other_messages_an_error(world):
    token = _access(world["admin_a"], world["a"])

    async def scenario():
        communicator, _ = await _open(f"?token={token}")
        await communicator.receive_json_from(timeout=5)  # session.ready
        replies = []
        for frame in ['{"type": "ping"}', '{"type": "subscribe"}', "not json", "[1, 2]"]:
            await communicator.send_to(text_data=frame)
            replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.send_to(bytes_data=b"\x00\x01")
        replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.disconnect()
        return replies

    invalid = {"type": "error", "data": {"code": "invalid_message", "detail": "Send JSON objects with a type."}}
    assert _run(scenario) == [
        {"type": "pong", "data": {}},
        {"type": "error", "data": {"code": "unknown_type", "detail": "Unknown message type."}},
        invalid,
        invalid,
        invalid,
    ]


async def _quiet(communicator, timeout: float) -> list[dict]:
    """The frames other than presence announcements that arrive within `timeout` (none: quiet).
    With the pub/sub layer a socket may hear its own arrival late (see _next_not_presence)."""
    frames = []
    while not await communicator.receive_nothing(timeout=timeout):
        frame = await communicator.receive_json_from()
        if frame["type"] != "presence.updated":
            frames.append(frame)
    return frames


def test_tenant_events_reach_that_tenant_only(world):
    event = {"type": "ticket.updated", "data": {"id": 7, "status": "open"}}
    both = world["admin_a"]
    MembershipFactory(tenant=world["b"], user=both, role=Role.AGENT)
    token_a, token_b = _access(world["admin_a"], world["a"]), _access(world["agent_b"], world["b"])
    # The same person as token_a, but connected to tenant B: A's events are not for that socket.
    token_both_in_b = _access(both, world["b"])

    async def scenario():
        layer = get_channel_layer()
        socket_a, _ = await _open(f"?token={token_a}")
        socket_b, _ = await _open(f"?token={token_b}")
        socket_both_in_b, _ = await _open(f"?token={token_both_in_b}")
        for communicator in (socket_a, socket_b, socket_both_in_b):
            await communicator.receive_json_from(timeout=5)  # session.ready
        await _expect_arrival(socket_b, both)  # `both` came online in B (A's socket hears nothing of it)

        await layer.group_send(tenant_group(world["a"].pk), {"type": "prosa.event", "event": event})
        got_a = await socket_a.receive_json_from(timeout=5)
        quiet_b = await _quiet(socket_b, 0.5)
        quiet_both_in_b = await _quiet(socket_both_in_b, 0.2)

        await layer.group_send(
            user_group(world["b"].pk, world["agent_b"].pk), {"type": "prosa.event", "event": {"type": "note"}}
        )
        got_b = await socket_b.receive_json_from(timeout=5)
        quiet_a = await _quiet(socket_a, 0.5)
        quiet_both_after = await _quiet(socket_both_in_b, 0.2)

        for communicator in (socket_a, socket_b, socket_both_in_b):
            await communicator.disconnect()
        return got_a, quiet_b, quiet_both_in_b, got_b, quiet_a, quiet_both_after

    got_a, quiet_b, quiet_both_in_b, got_b, quiet_a, quiet_both_after = _run(scenario)
    assert got_a == event
    assert got_b == {"type": "note"}
    assert (quiet_b, quiet_both_in_b, quiet_a, quiet_both_after) == ([], [], [], [])


def test_a_group_event_is_sent_without_the_database_connection_cleanup(world, monkeypatch):
    """Events fanned out to every socket of a group go straight to the socket: Channels' dispatch
    would first close stale database connections in a worker thread, once per socket and event
    (config.consumers.EventsConsumer.NO_DATABASE_HANDLERS). Other messages still get it."""
    import channels.consumer

    cleanups = []
    original = channels.consumer.aclose_old_connections

    async def counted():
        cleanups.append(1)
        await original()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    token = _access(world["admin_a"], world["a"])
    events = [{"type": "ticket.updated", "data": {"id": n}} for n in range(3)]

    async def scenario():
        layer = get_channel_layer()
        socket, _ = await _open(f"?token={token}")
        await socket.receive_json_from(timeout=5)  # session.ready
        before = len(cleanups)
        for event in events:
            await layer.group_send(tenant_group(world["a"].pk), {"type": "prosa.event", "text": json.dumps(event)})
        received = [await socket.receive_json_from(timeout=5) for _ in events]
        after_events = len(cleanups)
        await socket.send_json_to({"type": "ping"})
        pong = await socket.receive_json_from(timeout=5)
        after_ping = len(cleanups)
        await socket.disconnect()
        return received, after_events - before, after_ping - after_events, pong

    received, cleanups_for_events, cleanups_for_ping, pong = _run(scenario)
    assert received == events
    assert cleanups_for_events == 0
    assert cleanups_for_ping == 1 and pong["type"] == "pong"


async def _group_size(layer, group: str) -> int:
    """How many channels are in `group`: the group's sorted set in Redis for the queue layer; for
    the pub/sub layer, the members this process's loop holds (it subscribes for them)."""
    if hasattr(layer, "_group_key"):
        connection_ = layer.connection(layer.consistent_hash(group))
        return await connection_.zcard(layer._group_key(group))
    loop_layer = layer._get_layer()
    return len(loop_layer.groups.get(loop_layer._get_group_channel_name(group), ()))


def test_groups_are_left_on_disconnect(world):
    token = _access(world["admin_a"], world["a"])

    async def scenario():
        layer = get_channel_layer()
        communicator, _ = await _open(f"?token={token}")
        await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return await _group_size(layer, tenant_group(world["a"].pk))

    assert _run(scenario) == 0


def test_a_refused_socket_joins_no_group(world):
    token = _access(world["admin_a"], world["a"])
    Membership.all_tenants.filter(user=world["admin_a"]).update(is_active=False)

    async def scenario():
        layer = get_channel_layer()
        communicator, connected = await _open(f"?token={token}")
        closing = await communicator.receive_output(timeout=5)
        await communicator.disconnect(code=closing["code"], timeout=0.2)
        return connected, closing["code"], await _group_size(layer, tenant_group(world["a"].pk))

    assert _run(scenario) == (True, 4403, 0)


class TenantProbeConsumer(TenantConsumerMixin, AsyncJsonWebsocketConsumer):
    """A minimal consumer on the tenant mixin: answers with what its handlers see."""

    async def receive_json(self, content, **kwargs):
        tenant = get_current_tenant()
        members = await database_sync_to_async(lambda: sorted(Membership.objects.values_list("user_id", flat=True)))()
        await self.send_json({"tenant_id": tenant.pk if tenant else None, "members": members})


probe_application = AllowedHostsOriginValidator(
    JWTOrSessionAuthMiddleware(URLRouter([path("ws/probe/", TenantProbeConsumer.as_asgi())]))
)


def test_consumer_handlers_run_inside_the_connections_tenant(world):
    """Handlers (and the database calls they make in threads) see the socket's tenant only."""
    token = _access(world["admin_a"], world["a"])

    async def scenario():
        communicator = WebsocketCommunicator(probe_application, f"/ws/probe/?token={token}", headers=[ORIGIN])
        connected, _ = await communicator.connect(timeout=5)
        await communicator.send_json_to({"type": "probe"})
        answer = await communicator.receive_json_from(timeout=5)
        outside = get_current_tenant()
        await communicator.disconnect()
        return connected, answer, outside

    connected, answer, outside = _run(scenario)
    assert connected is True
    assert answer == {"tenant_id": world["a"].pk, "members": [world["admin_a"].pk]}
    assert outside is None


# --- Over a real socket ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daphne(django_db_setup, tmp_path_factory):
    """A daphne process serving config.asgi:application on a free port, on the test database."""
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with daphne_serving(log=log, env={"DJANGO_SETTINGS_MODULE": "config.settings"}) as port:
        yield f"ws://127.0.0.1:{port}/ws/", f"http://127.0.0.1:{port}"


def _real_connect(daphne, query):
    from websockets.sync.client import connect

    url, origin = daphne
    return connect(url + query, origin=origin, open_timeout=10, close_timeout=5)


def test_real_socket_session_events_and_isolation(world, daphne):
    from websockets.exceptions import ConnectionClosed  # noqa: F401  (fails loudly if missing)

    event = {"type": "message.created", "data": {"id": 42}}
    with (
        _real_connect(daphne, f"?token={_access(world['admin_a'], world['a'])}") as socket_a,
        _real_connect(daphne, f"?token={_access(world['agent_b'], world['b'])}") as socket_b,
    ):
        assert json.loads(socket_a.recv(timeout=10)) == {
            "type": "session.ready",
            "data": {"user_id": world["admin_a"].pk, "tenant_id": world["a"].pk, "role": "admin"},
        }
        assert json.loads(socket_b.recv(timeout=10))["data"]["tenant_id"] == world["b"].pk

        socket_a.send(json.dumps({"type": "ping"}))
        assert json.loads(socket_a.recv(timeout=10)) == {"type": "pong", "data": {}}

        # From this (test) process through Redis to the daphne process.
        async_to_sync(get_channel_layer().group_send)(
            tenant_group(world["a"].pk), {"type": "prosa.event", "event": event}
        )
        assert json.loads(socket_a.recv(timeout=10)) == event
        with pytest.raises(TimeoutError):
            socket_b.recv(timeout=1)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        pytest.param("?token=not-a-jwt", 4401, id="bad-token"),
        pytest.param("", 4401, id="no-credentials"),
        pytest.param("inactive-membership", 4403, id="inactive-membership"),
    ],
)
def test_real_socket_refusals_carry_the_close_code(world, daphne, query, code):
    from websockets.exceptions import ConnectionClosed

    if query == "inactive-membership":
        query = f"?token={_access(world['admin_a'], world['a'])}"
        Membership.all_tenants.filter(user=world["admin_a"]).update(is_active=False)
    with _real_connect(daphne, query) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code


def test_real_socket_refuses_a_foreign_origin(world, daphne):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url, _origin = daphne
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{url}?token={_access(world['admin_a'], world['a'])}", origin="https://evil.example.com")
    assert refused.value.response.status_code == 403


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", {"tenant.{t}", "tenant.{t}.user.{u}", "tenant.{t}.staff"}),
        ("supervisor", {"tenant.{t}", "tenant.{t}.user.{u}", "tenant.{t}.staff"}),
        ("agent", {"tenant.{t}", "tenant.{t}.user.{u}", "tenant.{t}.agents", "tenant.{t}.queue.{q}"}),
    ],
)
def test_each_role_joins_the_groups_of_the_events_it_may_see(tenant, make_member, role, expected):
    from asgiref.sync import async_to_sync

    from config.consumers import groups_for_member
    from tenants.context import tenant_context
    from tickets.tests.factories import QueueFactory

    user = make_member(tenant, role)
    member_queue = QueueFactory(tenant=tenant)
    member_queue.members.add(user)
    QueueFactory(tenant=tenant)  # a queue the user is not in
    with tenant_context(tenant):
        groups = async_to_sync(groups_for_member)(tenant, user, role)
    assert set(groups) == {g.format(t=tenant.pk, u=user.pk, q=member_queue.pk) for g in expected}


# --- Ticket subscriptions and typing ----------------------------------------------------------


async def _next_not_presence(communicator) -> dict:
    """The next frame that is no presence announcement. With the pub/sub layer a socket may hear
    its own arrival: the announcement is published before the socket joins the tenant's group, but
    reaches this process (which fans it out to its sockets) after it joined."""
    while (frame := await communicator.receive_json_from(timeout=5))["type"] == "presence.updated":
        pass
    return frame


def test_agents_see_each_other_typing_in_a_ticket_they_both_see_but_not_their_own(world):
    from tickets.tests.factories import TicketFactory

    ticket = TicketFactory(tenant=world["a"])  # pending, no queue: visible to every agent
    agent_1 = MembershipFactory(tenant=world["a"], role=Role.AGENT).user
    agent_2 = MembershipFactory(tenant=world["a"], role=Role.AGENT).user
    token_1, token_2 = _access(agent_1, world["a"]), _access(agent_2, world["a"])

    async def scenario():
        one, _ = await _open(f"?token={token_1}")
        two, _ = await _open(f"?token={token_2}")
        await one.receive_json_from(timeout=5)  # session.ready
        await _expect_arrival(one, agent_2)
        for communicator in (one, two):
            if communicator is two:
                await communicator.receive_json_from(timeout=5)  # session.ready
            await communicator.send_json_to({"type": "ticket.subscribe", "ticket_id": ticket.pk})
            assert await _next_not_presence(communicator) == {
                "type": "ticket.subscribed",
                "data": {"ticket_id": ticket.pk},
            }
        await one.send_json_to({"type": "typing", "ticket_id": ticket.pk, "typing": True})
        seen_by_two = await two.receive_json_from(timeout=5)
        nothing_for_one = await one.receive_nothing(timeout=0.5)
        await one.disconnect()
        await two.disconnect()
        return seen_by_two, nothing_for_one

    seen_by_two, nothing_for_one = _run(scenario)
    assert seen_by_two == {
        "type": "typing",
        "data": {"ticket_id": ticket.pk, "user_id": agent_1.pk, "name": agent_1.name, "typing": True},
    }
    assert nothing_for_one is True


def test_subscribing_to_another_tenants_ticket_is_like_a_missing_one(world):
    from tickets.tests.factories import TicketFactory

    foreign = TicketFactory(tenant=world["b"])
    token = _access(world["admin_a"], world["a"])

    async def scenario():
        communicator, _ = await _open(f"?token={token}")
        await communicator.receive_json_from(timeout=5)
        replies = []
        for ticket_id in (foreign.pk, 999_999_999, "not-a-number"):
            await communicator.send_json_to({"type": "ticket.subscribe", "ticket_id": ticket_id})
            replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.send_json_to({"type": "typing", "ticket_id": foreign.pk})
        replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.disconnect()
        return replies

    not_found = {"type": "error", "data": {"code": "ticket_not_found", "detail": "No such ticket."}}
    assert _run(scenario) == [not_found] * 4


# --- Presence ------------------------------------------------------------------------------


def test_a_socket_makes_its_member_online_and_away_on_request(world):
    from tickets import presence

    tenant, admin = world["a"], world["admin_a"]
    token = _access(admin, tenant)

    async def scenario():
        communicator, _ = await _open(f"?token={token}")
        ready = await communicator.receive_json_from(timeout=5)
        online = await database_sync_to_async(presence.status_of)(tenant_id=tenant.pk, user_id=admin.pk)
        await communicator.send_json_to({"type": "presence.set", "status": "away"})
        answers = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
        await communicator.send_json_to({"type": "presence.set", "status": "asleep"})
        refused = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        gone = await database_sync_to_async(presence.status_of)(tenant_id=tenant.pk, user_id=admin.pk)
        return ready, online, answers, refused, gone

    ready, online, answers, refused, gone = _run(scenario)
    assert ready["type"] == "session.ready"  # its own arrival is announced to the others only
    assert online == "online"
    assert {"type": "presence.updated", "data": {"user_id": admin.pk, "status": "away"}} in answers
    assert {"type": "presence.set", "data": {"status": "away"}} in answers
    assert refused["data"]["code"] == "invalid_status"
    assert gone == "offline"
