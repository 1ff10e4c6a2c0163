"""The store: one SQLite database (WAL) plus immutable FAISS segment files in one folder.

    store = Store(Path("index"))
    with store.writer() as w:           # one writer at a time (file lock); commit on exit, rollback on error
        w.delete_article("old-id")
        w.add_articles([...], vectors)
    snap = store.snapshot()             # a consistent read view of the last commit
    snap.search_vectors(q, 10); snap.search_keywords("ferry library", 10); snap.passages([3, 7])

Layout: qa.db (+ -wal, -shm), segments/seg-<n>.faiss, leases/ (live readers), .lock (writers).
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from qa.errors import StoreError
from qa.store import legacy
from qa.store import segments as seg
from qa.store.leases import Lease
from qa.store.schema import (DB_NAME, LEASES_DIR, LOCK_NAME, SEGMENTS_DIR, SegmentRow, connect, migrate)
from qa.store.snapshot import Snapshot
from qa.store.writer import SEGMENT_COLUMNS, Writer



class Store:
    """Opens (creating if needed) the store in `folder`; shared by the readers and writers of a process."""

    def __init__(self, folder: Path, nprobe: int = 128, mmap: bool = True) -> None:
        self.folder = Path(folder)
        self.nprobe = nprobe
        self.mmap = mmap
        self._cache: dict[tuple[str, int], Any] = {}  # (file, CRC-32) -> loaded index: segments never change
        self._lock = threading.Lock()  # guards the readers' connection and the cache
        self._conn: sqlite3.Connection | None = None
        self._inode = -1

    @property
    def db_path(self) -> Path:
        return self.folder / DB_NAME

    @property
    def segments_dir(self) -> Path:
        return self.folder / SEGMENTS_DIR

    def exists(self) -> bool:
        return self.db_path.exists()

    def legacy_format(self) -> str | None:
        """Why this folder must be rebuilt from the corpus: it holds a v0.1 index (see qa.store.legacy)."""
        return legacy.upgrade_reason(self.folder)

    def remove_legacy_files(self) -> None:
        """Remove a v0.1 index's files, once the new store is committed."""
        legacy.remove_files(self.folder)

    def _open_for_writing(self, log: Callable[[str], None], replace_unreadable: bool) -> sqlite3.Connection:
        try:
            conn = connect(self.db_path)
            migrate(conn)
            conn.execute("SELECT count(*) FROM state").fetchone()
            return conn
        except (StoreError, sqlite3.DatabaseError) as exc:
            if not replace_unreadable:
                raise StoreError(f"the index database {self.db_path} is unreadable ({exc}); "
                                 f"rebuild with `qa index --rebuild`") from None
        aside = self.db_path.with_name(f"{DB_NAME}.unreadable-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            old = self.db_path.with_name(DB_NAME + suffix)
            if old.exists():
                old.replace(aside.with_name(aside.name + suffix))
        log(f"the index database was unreadable; it was moved to {aside.name} and a new one is built")
        conn = connect(self.db_path)
        migrate(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        """The connection readers share (autocommit: every query is its own short read); opened again
        when the database file was replaced (a rebuild from an unreadable one)."""
        with self._lock:
            inode = self.db_path.stat().st_ino
            if self._conn is None or self._inode != inode:
                if self._conn is not None:
                    self._conn.close()
                conn = connect(self.db_path)
                migrate(conn)
                self._conn, self._inode = conn, inode
            return self._conn

    def version(self) -> tuple[str, int]:
        """(store id, last committed generation): a new id means a new database, whose generations
        started again, so a reader must not compare generations alone."""
        if not self.exists():
            return "", 0
        conn = self._reader()
        with self._lock:
            state = dict(conn.execute("SELECT key, value FROM state WHERE key IN ('store_id', 'generation')"))
        return state.get("store_id", ""), int(state.get("generation", 0))

    def generation(self) -> int:
        """The last committed generation (0: nothing committed yet); one small query, no file reads."""
        return self.version()[1]

    # --- reading ------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """A read view of the last committed generation."""
        if not self.exists():
            raise StoreError(f"no index in {self.folder}; build it with `qa index`")
        conn = self._reader()
        lease = Lease(self.folder / LEASES_DIR)  # taken first: protects every generation until set
        try:
            with self._lock:
                conn.execute("BEGIN")  # one consistent read of the generation's rows
                try:
                    state = dict(conn.execute("SELECT key, value FROM state").fetchall())
                    generation = int(state.get("generation", 0))
                    counts = conn.execute("SELECT articles, passages FROM generations WHERE generation = ?",
                                          (generation,)).fetchone() or (0, 0)
                    rows = [SegmentRow(*r) for r in conn.execute(
                        f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE created <= :g AND "
                        f"(dropped IS NULL OR dropped > :g) ORDER BY id", {"g": generation})]
                    common = frozenset(r[0] for r in conn.execute("SELECT term FROM common_terms"))
                    hidden = np.fromiter((r[0] for r in conn.execute(
                        "SELECT passage_id FROM tombstones WHERE generation <= :g AND "
                        "(dropped IS NULL OR dropped > :g)", {"g": generation})), np.int64)
                finally:
                    conn.execute("COMMIT")
            lease.set(generation)
            loaded = [(row, self.load_segment(row)) for row in rows]
        except BaseException:
            lease.release()
            raise
        self._forget_except(rows)
        return Snapshot(conn, self._lock, lease, generation, tuple(counts), state, loaded, hidden, self.nprobe,
                        common)

    def load_segment(self, row: SegmentRow) -> Any:
        """The loaded index of a segment (read once per process: segments are immutable)."""
        key = (row.file, row.crc32)
        with self._lock:
            index = self._cache.get(key)
        if index is None:
            index = seg.read_segment(self.segments_dir / row.file, row.vectors, row.bytes, mmap=self.mmap)
            with self._lock:
                self._cache[key] = index
        return index

    def _forget_except(self, rows: list[SegmentRow]) -> None:
        """Drop cached segments other than these (the snapshots holding them keep their own reference)."""
        keep = {(r.file, r.crc32) for r in rows}
        with self._lock:
            for key in [k for k in self._cache if k not in keep]:
                del self._cache[key]

    def forget_segments(self, names: set[str]) -> None:
        """Drop collected segment files from the cache, so their memory-mapped pages can really go."""
        with self._lock:
            for key in [k for k in self._cache if k[0] in names]:
                del self._cache[key]

    # --- writing ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, log: Callable[[str], None] = print, replace_unreadable: bool = False) -> Iterator[Writer]:
        """The one writer: waits for the writers' lock, opens a transaction, commits on exit (a new
        generation, if anything changed) and rolls back on error; then collects what no reader needs.
        With `replace_unreadable` (a full rebuild), an unreadable database is moved aside and a new
        one started, instead of failing."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK_NAME, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"another indexer is updating {self.folder}; waiting for it to finish")
                fcntl.flock(lock, fcntl.LOCK_EX)
            conn = self._open_for_writing(log, replace_unreadable)
            try:
                w = Writer(self, conn)
                w.begin()
                try:
                    yield w
                    w.commit()
                except BaseException:
                    w.rollback()
                    raise
                w.collect_garbage()
            finally:
                conn.close()
                fcntl.flock(lock, fcntl.LOCK_UN)
