"""Abuse limits for the web chat: per-client rates and a bounded wait for a free answering slot."""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from qa.errors import Busy
from qa.rates import RateLimiter


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
