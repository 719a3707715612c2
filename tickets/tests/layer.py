"""Reading the channel layer from synchronous tests, with either layer of config/settings.py.

The pub/sub layer keeps its channels and subscriptions per event loop, and hears only while that
loop runs: a channel made, added to a group and read by separate `async_to_sync` calls (a new loop
each) would never receive anything. `LayerListener` runs one loop of its own, in a thread, for all
of them — the way a server process holds its sockets' channels.
"""

from __future__ import annotations

import asyncio
import json
import threading

from channels.layers import get_channel_layer


def event_of(message: dict) -> dict:
    """The `{"type", "data"}` event a layer message carries (tickets.events.layer_message)."""
    return json.loads(message["text"]) if "text" in message else message["event"]


class LayerListener:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.memberships: list[tuple[str, str]] = []

    def _call(self, coroutine, timeout: float = 5):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def listen(self, *groups: str) -> str:
        """A new channel, added to `groups`."""
        channel = self._call(self.layer.new_channel())
        for group in groups:
            self._call(self.layer.group_add(group, channel))
            self.memberships.append((group, channel))
        return channel

    def receive(self, channel: str, timeout: float = 5) -> dict:
        """The next layer message of `channel` (raises TimeoutError after `timeout` seconds)."""
        return self._call(asyncio.wait_for(self.layer.receive(channel), timeout), timeout + 1)

    def events(self, channel: str, count: int, timeout: float = 5) -> list[dict]:
        """The next `count` events of `channel`, decoded."""
        return [event_of(self.receive(channel, timeout)) for _ in range(count)]

    def nothing_waiting(self, channel: str, wait: float = 0.3) -> bool:
        try:
            self.receive(channel, timeout=wait)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        for group, channel in self.memberships:
            self._call(self.layer.group_discard(group, channel))
        if hasattr(self.layer, "_get_layer"):  # the pub/sub layer: unsubscribe and close this loop's connections
            self._call(self.layer.flush())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
