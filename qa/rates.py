"""A sliding-window rate limiter: at most N units a minute per key. The corpus editor limits uploads
with it, the web chat questions and sign-ins."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    """At most `limit` units per `window` seconds per key (sliding window)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, key: str, units: int = 1) -> float:
        """Seconds until `units` more would fit for `key` (0.0: now)."""
        now = time.monotonic()
        with self._lock:
            return self._wait(key, units, now)

    def take(self, key: str, units: int = 1) -> float:
        """Record `units` for `key` and return 0.0, or return the seconds to wait (nothing recorded)."""
        now = time.monotonic()
        with self._lock:
            wait = self._wait(key, units, now)
            if not wait:
                self._events.setdefault(key, deque()).extend([now] * units)
            return wait

    def _wait(self, key: str, units: int, now: float) -> float:
        if len(self._events) > 10_000:  # forget clients that have been quiet for a window
            self._events = {k: q for k, q in self._events.items() if q and q[-1] > now - self.window}
        events = self._events.get(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if units > self.limit:
            return self.window
        if len(events) + units > self.limit:
            return events[len(events) + units - self.limit - 1] + self.window - now
        return 0.0
