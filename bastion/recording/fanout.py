"""Live copies of sessions' masked events for watchers, with bounded buffers.

A session publishes only when someone watches it (one dict lookup otherwise). Each watcher has its own
bounded queue; a watcher that falls behind is cut off and told it lagged, so a slow reviewer never
slows a session. Watchers catch up from the recording, not from here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

# (t seconds since the session started, asciicast code "o" | "r" | "m", text)
LiveEvent = tuple[float, str, str]

_END = object()


@dataclass(eq=False)
class Watcher:
    """One reviewer's subscription to one session."""

    session_id: str
    max_events: int
    max_bytes: int
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    queued_bytes: int = 0
    lagged: bool = False
    ended: bool = False

    def _offer(self, event: LiveEvent) -> bool:
        size = len(event[2])
        if self.queue.qsize() >= self.max_events or self.queued_bytes + size > self.max_bytes:
            self.lagged = True
            return False
        self.queued_bytes += size
        self.queue.put_nowait(event)
        return True

    async def next(self) -> LiveEvent | None:
        """The next live event, or None when the session ended or this watcher lagged."""
        item = await self.queue.get()
        if item is _END:
            return None
        self.queued_bytes -= len(item[2])
        return item


class Fanout:
    """Session id → its watchers."""

    def __init__(self, *, max_events: int = 4096, max_bytes: int = 8 * 1024 * 1024) -> None:
        self._watchers: dict[str, list[Watcher]] = {}
        self._max_events = max_events
        self._max_bytes = max_bytes

    def watched(self, session_id: str) -> bool:
        return session_id in self._watchers

    def subscribe(self, session_id: str) -> Watcher:
        watcher = Watcher(session_id, self._max_events, self._max_bytes)
        self._watchers.setdefault(session_id, []).append(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        watchers = self._watchers.get(watcher.session_id)
        if watchers and watcher in watchers:
            watchers.remove(watcher)
            if not watchers:
                del self._watchers[watcher.session_id]
        if not watcher.ended:
            watcher.ended = True
            watcher.queue.put_nowait(_END)

    def publish(self, session_id: str, event: LiveEvent) -> None:
        watchers = self._watchers.get(session_id)
        if not watchers:
            return
        for watcher in list(watchers):
            if not watcher._offer(event):
                self.unsubscribe(watcher)

    def end(self, session_id: str) -> None:
        """The session is over: every watcher's stream ends."""
        for watcher in list(self._watchers.get(session_id, ())):
            self.unsubscribe(watcher)
