"""Login throttling: after N failed attempts for one email from one IP, refuse for the window."""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from config.redis import get_redis


@dataclass
class LoginFailures:
    key: str

    def _limits(self) -> tuple[int, int]:
        return settings.LOGIN_THROTTLE_ATTEMPTS, settings.LOGIN_THROTTLE_WINDOW

    def raise_if_blocked(self) -> None:
        from accounts.exceptions import LoginThrottled

        attempts, window = self._limits()
        client = get_redis()
        count = int(client.get(self.key) or 0)
        if count >= attempts:
            ttl = client.ttl(self.key)
            raise LoginThrottled(retry_after=ttl if ttl and ttl > 0 else window)

    def record(self) -> None:
        _, window = self._limits()
        # The window starts at the first failure: create the counter with its expiry only if absent,
        # then count. (Not EXPIRE ... NX, which needs Redis 7; the embedded Redis and many
        # production servers are 6.x.)
        pipe = get_redis().pipeline()  # MULTI/EXEC: both or neither
        pipe.set(self.key, 0, ex=window, nx=True)
        pipe.incr(self.key)
        pipe.execute()

    def clear(self) -> None:
        get_redis().delete(self.key)


def login_failures(*, email: str, ip: str) -> LoginFailures:
    digest = hashlib.sha256(f"{email.strip().lower()}|{ip}".encode()).hexdigest()
    return LoginFailures(key=f"prosa:login-failures:{digest}")


def client_ip(request) -> str:
    """The client's address as DRF's throttles see it: X-Forwarded-For is trusted only for the
    NUM_PROXIES proxies configured in front of us, else the socket's address."""
    return BaseThrottle().get_ident(request)
