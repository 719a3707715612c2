"""A send-rate limiter per WhatsApp connection, shared by every worker through Redis.

GCRA with reservations: each caller atomically books the next free slot of the connection (a Lua
script, so workers on any machine agree) and sleeps until it. Slots are `interval` apart — fixed
for Cloud (1 / rate), drawn from a random range per message for Evolution — and every `pause_every`
bookings the next slot moves `pause` further (Evolution's "rest every N messages"). A booking that
is never used (a worker paused or died) costs one slot, never a burst. Redis 6.2: TIME, GET, SET,
INCR only.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from config.redis import get_redis

# KEYS[1] next free slot (µs since epoch) · KEYS[2] bookings counter
# ARGV[1] interval µs · ARGV[2] pause_every (0 = never) · ARGV[3] pause µs
# → µs to wait before sending
RESERVE = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local following = slot + interval
local every = tonumber(ARGV[2])
if every > 0 then
  local n = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], 86400000)
  if n % every == 0 then following = following + tonumber(ARGV[3]) end
end
local ttl = math.ceil((following - now) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', following), 'PX', ttl)
return string.format('%.0f', slot - now)
"""


@dataclass(frozen=True)
class Pace:
    min_interval: float  # seconds between two sends
    max_interval: float
    pause_every: int = 0
    pause: float = 0.0

    @classmethod
    def per_second(cls, rate: float) -> Pace:
        return cls(1.0 / rate, 1.0 / rate)


class ConnectionThrottle:
    def __init__(self, connection_id: int, pace: Pace, *, redis=None):
        self.pace = pace
        self.keys = [f"prosa:throttle:conn:{connection_id}:next", f"prosa:throttle:conn:{connection_id}:count"]
        self._redis = redis or get_redis()
        self._script = self._redis.register_script(RESERVE)

    def reserve(self) -> float:
        """Books the next slot; the seconds to wait until it."""
        interval = random.uniform(self.pace.min_interval, self.pace.max_interval)  # noqa: S311 (not crypto)
        waited = self._script(
            keys=self.keys,
            args=[int(interval * 1_000_000), self.pace.pause_every, int(self.pace.pause * 1_000_000)],
        )
        return max(0, int(waited)) / 1_000_000

    def wait(self) -> float:
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)
        return delay
