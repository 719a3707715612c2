"""The API's rate limits (REST_FRAMEWORK's DEFAULT_THROTTLE_RATES: `user` per member, `anon` per
address without a token, `ip` per address for everyone), all checked by one Redis round trip.

DRF's SimpleRateThrottle keeps each client's request times as a pickled list in the cache, read
and written whole on every request by each of the three throttles: up to 1,200 timestamps
unpickled and pickled twice per request (2–4 ms of a ticket list request, docs/PERFORMANCE.md).
Here each limit is two counters — this window's and the previous one's — and the rate over the
last window is estimated by weighting the previous counter with the part of it still inside the
sliding window (the approach of nginx's and Cloudflare's sliding-window limits): one pipelined
round trip for every limit of the request, a few bytes each. A refused request counts too, so a
client that keeps hammering stays refused until it slows down.
"""

from __future__ import annotations

import math
import time

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from config.redis import get_redis

KEY_PREFIX = "prosa:throttle"

# The clock the windows are cut from (seconds since the epoch).
clock = time.time


def _rate(scope: str) -> tuple[int, int] | None:
    """(requests, seconds) of the scope's configured rate; None when it has no limit."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
    return SimpleRateThrottle.parse_rate(None, rate) if rate else None


class RequestRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.retry_after: float | None = None

    def limits(self, request) -> list[tuple[str, str, int, int]]:
        """(scope, who, requests, seconds) of every limit that applies to the request."""
        address = self.get_ident(request)
        user = getattr(request, "user", None)
        scopes = [("user", f"user-{user.pk}")] if user and user.is_authenticated else [("anon", address)]
        scopes.append(("ip", address))
        return [(scope, who, *rate) for scope, who in scopes if (rate := _rate(scope))]

    def allow_request(self, request, view) -> bool:
        limits = self.limits(request)
        if not limits:
            return True
        now = clock()
        pipe = get_redis().pipeline(transaction=False)
        for scope, who, _requests, seconds in limits:
            window = int(now // seconds)
            current = f"{KEY_PREFIX}:{scope}:{who}:{window}"
            # The counter lives two windows: the next one weighs it as its previous.
            pipe.set(current, 0, ex=2 * seconds, nx=True)
            pipe.incr(current)
            pipe.get(f"{KEY_PREFIX}:{scope}:{who}:{window - 1}")
        replies = pipe.execute()
        for index, (_scope, _who, requests, seconds) in enumerate(limits):
            current, previous = replies[3 * index + 1], int(replies[3 * index + 2] or 0)
            into_window = (now % seconds) / seconds
            if previous * (1 - into_window) + current > requests:
                self.retry_after = self._wait(requests, seconds, current, previous, into_window)
                return False
        return True

    @staticmethod
    def _wait(requests: int, seconds: int, current: int, previous: int, into_window: float) -> float:
        """Seconds until the estimate is back within the limit, if the client sends nothing more."""
        if current <= requests:
            # The previous window's share fades: previous * (1 - x) + current <= requests.
            fraction = 1 - (requests - current) / previous
            return max(1.0, (fraction - into_window) * seconds)
        # This window alone is over the limit: wait for it to end, then for its share to fade.
        fraction = 1 - requests / current
        return max(1.0, (1 - into_window + fraction) * seconds)

    def wait(self) -> float | None:
        return math.ceil(self.retry_after) if self.retry_after is not None else None
