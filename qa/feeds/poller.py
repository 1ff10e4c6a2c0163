"""The served chat's feed poller: a background thread that updates the feeds every `minutes` (the first
update a few seconds after start), so a chat left running follows the news by itself. A failing update is
logged and the next one goes on; nothing is fetched when no feed is followed."""

from __future__ import annotations

import threading
from collections.abc import Callable

from qa.feeds.follow import Feeds, UpdateReport

FIRST_DELAY = 5.0  # seconds after start: the server is up before the first fetch


class FeedPoller:
    """Updates `feeds` every `minutes` in a daemon thread; `stop()` ends it."""

    def __init__(self, feeds: Feeds, minutes: float, log: Callable[[str], None] = print,
                 first_delay: float = FIRST_DELAY) -> None:
        self.feeds = feeds
        self.seconds = minutes * 60
        self.log = log
        self.first_delay = first_delay
        self.last: UpdateReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> FeedPoller:
        if self.seconds > 0 and not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="qa-feeds", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        wait = self.first_delay
        while not self._stop.wait(wait):
            wait = self.seconds
            try:
                if self.feeds.list():
                    self.last = self.feeds.update()
                    self.log(f"feeds updated: {sum(f.new_items for f in self.last.feeds)} new item(s)")
            except Exception as exc:  # noqa: BLE001 - a bad update must not end the polling
                self.log(f"feed update failed: {type(exc).__name__}: {exc}")
