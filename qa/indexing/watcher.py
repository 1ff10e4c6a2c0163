"""Index changes to the corpus folder as they happen, on a background thread (the served chat starts one).

Every `every` seconds the mtimes of the folder and its sub-folders tell at once when a file was added,
removed or renamed anywhere in the archive (an editor's save, `corpus/2022/03/story.html`); a full stat pass of every file, at most every `full_every` seconds, also catches files
edited in place. A build that fails is logged and tried again at the next change, never raised.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from qa.ingest.files import folders_stamp, signature


class Watcher:
    """Calls `build()` whenever the corpus folder has changed since the last call, or `index_gone()` says
    the index is not there any more (its folder deleted under a running server)."""

    def __init__(self, corpus_dir: Path, build: Callable[[], Any], log: Callable[[str], None] = print,
                 every: float = 2.0, full_every: float = 30.0,
                 index_gone: Callable[[], bool] = lambda: False) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.build = build
        self.index_gone = index_gone
        self.log = log
        self.every = every
        self.full_every = full_every
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start watching (once: a second call does nothing)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="qa-indexer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching, after the build in progress (if any)."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self._stop.clear()

    def _loop(self) -> None:
        seen: str | None = None
        folder_mtime, full_at = -1, 0.0
        while not self._stop.is_set():
            mtime = folders_stamp(self.corpus_dir)
            if mtime != folder_mtime or time.monotonic() - full_at >= self.full_every:
                folder_mtime, full_at = mtime, time.monotonic()
                current = signature(self.corpus_dir) if mtime >= 0 else None
                if current is not None and current != seen:
                    seen = current
                    self._build_quietly()
            if mtime >= 0 and self.index_gone():
                self.log("the index is gone (its folder deleted?): building it again from the corpus")
                self._build_quietly()
            self._stop.wait(self.every)

    def _build_quietly(self) -> None:
        try:
            report = self.build()
            if report.added or report.changed or report.removed or report.full_rebuild:
                self.log(f"index updated: {report.summary()}")
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one build
            self.log(f"indexing failed, retried at the next change: {type(exc).__name__}: {exc}")
