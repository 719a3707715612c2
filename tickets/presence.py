"""Who is at their desk: agents' presence, kept in Redis, read by auto-assignment and the inbox.

A member is *online* while at least one of their sockets is alive and they have not set themselves
*away*. Each socket is a member of the tenant's sorted set `presence:<tenant>:sockets`, scored
with the time it stops counting; the inbox pings every 30 seconds, so a socket whose server died
without a disconnect drops out within `SOCKET_TTL`. Nothing here needs the database.
"""

from __future__ import annotations

import time
from typing import Literal

from config.redis import get_redis

SOCKET_TTL = 90  # seconds without a ping after which a socket no longer counts

Status = Literal["online", "away", "offline"]
SETTABLE_STATUSES = ("online", "away")


def _sockets_key(tenant_id: int) -> str:
    return f"presence:{tenant_id}:sockets"


def _away_key(tenant_id: int) -> str:
    return f"presence:{tenant_id}:away"


def _member(user_id: int, socket_id: str) -> str:
    return f"{user_id}|{socket_id}"


def _connected_user_ids(tenant_id: int, *, now: float | None = None) -> set[int]:
    redis = get_redis()
    key = _sockets_key(tenant_id)
    now = time.time() if now is None else now
    redis.zremrangebyscore(key, "-inf", now)
    return {int(member.split(b"|", 1)[0]) for member in redis.zrangebyscore(key, now, "+inf")}


def status_of(*, tenant_id: int, user_id: int) -> Status:
    if user_id not in _connected_user_ids(tenant_id):
        return "offline"
    return "away" if get_redis().sismember(_away_key(tenant_id), user_id) else "online"


def statuses(*, tenant_id: int) -> dict[int, Status]:
    """The connected members of the tenant and their status; anyone missing is offline."""
    connected = _connected_user_ids(tenant_id)
    away = {int(user_id) for user_id in get_redis().smembers(_away_key(tenant_id))}
    return {user_id: ("away" if user_id in away else "online") for user_id in connected}


def online_user_ids(*, tenant_id: int) -> set[int]:
    """Members who can take a ticket now: connected and not away."""
    return {user_id for user_id, status in statuses(tenant_id=tenant_id).items() if status == "online"}


def socket_connected(*, tenant_id: int, user_id: int, socket_id: str) -> bool:
    """Counts a new socket. True when the member was offline until now."""
    was_connected = user_id in _connected_user_ids(tenant_id)
    get_redis().zadd(_sockets_key(tenant_id), {_member(user_id, socket_id): time.time() + SOCKET_TTL})
    return not was_connected


def socket_alive(*, tenant_id: int, user_id: int, socket_id: str) -> None:
    """A ping: the socket counts for another `SOCKET_TTL` seconds."""
    get_redis().zadd(_sockets_key(tenant_id), {_member(user_id, socket_id): time.time() + SOCKET_TTL})


def socket_disconnected(*, tenant_id: int, user_id: int, socket_id: str) -> bool:
    """Forgets a socket. True when it was the member's last one (they are offline now)."""
    get_redis().zrem(_sockets_key(tenant_id), _member(user_id, socket_id))
    return user_id not in _connected_user_ids(tenant_id)


def status_set(*, tenant_id: int, user_id: int, status: str) -> None:
    """The member's own choice: `away` keeps them out of auto-assignment while connected."""
    if status not in SETTABLE_STATUSES:
        raise ValueError(status)
    redis = get_redis()
    if status == "away":
        redis.sadd(_away_key(tenant_id), user_id)
    else:
        redis.srem(_away_key(tenant_id), user_id)


def presence_event(*, user_id: int, status: Status) -> dict:
    return {"type": "presence.updated", "data": {"user_id": user_id, "status": status}}


def waiting_tickets_offer(*, tenant_id: int, status: Status) -> None:
    """A member who came online may take the tickets waiting for auto-assignment."""
    from tickets.tasks import waiting_tickets_assign_task

    if status == "online":
        waiting_tickets_assign_task.delay(tenant_id=tenant_id)


def presence_announce(*, tenant_id: int, user_id: int) -> Status:
    """From synchronous code (the API): tells the tenant's sockets the member's status and offers
    them the waiting tickets. The consumer does the same on its own event loop."""
    from tickets.events import everyone_group, publish

    status = status_of(tenant_id=tenant_id, user_id=user_id)
    event = presence_event(user_id=user_id, status=status)
    publish({everyone_group(tenant_id)}, event["type"], event["data"])
    waiting_tickets_offer(tenant_id=tenant_id, status=status)
    return status
