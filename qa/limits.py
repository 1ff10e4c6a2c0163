"""Abuse limits for the web chat: per-client rates and a bounded wait for a free answering slot."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Iterator


class Busy(Exception):
    """A request turned away for now; `seconds` says when to try again."""

    def __init__(self, message: str, seconds: int) -> None:
        super().__init__(message)
        self.seconds = seconds


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


class AskGuard:
    """Questions answered `concurrency` at a time with at most `backlog` waiting; a client may ask
    `per_minute` questions a minute. Everyone beyond that is told, at once, to come back later."""

    def __init__(self, concurrency: int, backlog: int, per_minute: int) -> None:
        self.concurrency = concurrency
        self.backlog = backlog
        self.rate = RateLimiter(per_minute)
        self._cond = threading.Condition()
        self._active = 0
        self._waiting = 0
        self._seconds = 1.0  # running average of one answer's time, for the "try again" estimate

    @contextmanager
    def admit(self, client: str) -> Iterator[None]:
        """Hold an answering slot for one question from `client`, or raise Busy."""
        wait = self.rate.take(client)
        if wait:
            raise Busy(f"Busy: you have asked {self.rate.limit} questions in the last minute; "
                       f"try again in {math.ceil(wait)} s.", math.ceil(wait))
        with self._cond:
            if self._active >= self.concurrency and self._waiting >= self.backlog:
                seconds = max(1, math.ceil(self._seconds * (self._waiting + 1) / self.concurrency))
                raise Busy(f"Busy: {self._active + self._waiting} questions are being answered or waiting; "
                           f"try again in {seconds} s.", seconds)
            self._waiting += 1
            self._cond.wait_for(lambda: self._active < self.concurrency)
            self._waiting -= 1
            self._active += 1
        t0 = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - t0)
                self._cond.notify()
