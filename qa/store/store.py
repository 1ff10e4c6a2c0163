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
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from qa.errors import StoreError
from qa.store import faults
from qa.store import segments as seg
from qa.store.leases import Lease, oldest_leased
from qa.store.schema import (DB_NAME, LEASES_DIR, LOCK_NAME, SEGMENTS_DIR, ArticleRow, SegmentRow, SourceRow,
                             connect, migrate)
from qa.store.snapshot import Snapshot
from qa.types import Passage

SEGMENT_COLUMNS = "id, file, role, kind, vectors, bytes, crc32, created"


class Store:
    """Opens (creating if needed) the store in `folder`; shared by the readers and writers of a process."""

    def __init__(self, folder: Path, nprobe: int = 32, mmap: bool = True) -> None:
        self.folder = Path(folder)
        self.nprobe = nprobe
        self.mmap = mmap
        self._cache: dict[int, Any] = {}  # segment id -> loaded index (segments never change)
        self._cache_lock = threading.Lock()
        self._quick: sqlite3.Connection | None = None

    @property
    def db_path(self) -> Path:
        return self.folder / DB_NAME

    @property
    def segments_dir(self) -> Path:
        return self.folder / SEGMENTS_DIR

    def exists(self) -> bool:
        return self.db_path.exists()

    def generation(self) -> int:
        """The last committed generation (0: nothing committed yet); one small query, no file reads."""
        if self._quick is None:
            if not self.exists():
                return 0
            self._quick = connect(self.db_path)
            migrate(self._quick)
        with self._cache_lock:
            row = self._quick.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    # --- reading ------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """A read view of the last committed generation."""
        if not self.exists():
            raise StoreError(f"no index in {self.folder}; build it with `qa index`")
        lease = Lease(self.folder / LEASES_DIR)  # taken first: protects every generation until set
        conn = connect(self.db_path)
        try:
            migrate(conn)
            conn.execute("BEGIN")
            state = dict(conn.execute("SELECT key, value FROM state").fetchall())
            generation = int(state.get("generation", 0))
            lease.set(generation)
            rows = [SegmentRow(*r) for r in conn.execute(
                f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE dropped IS NULL ORDER BY id")]
            hidden = np.fromiter((r[0] for r in conn.execute("SELECT passage_id FROM tombstones")), np.int64)
            loaded = [(row, self.load_segment(row)) for row in rows]
        except BaseException:
            conn.close()
            lease.release()
            raise
        self._forget_except({row.id for row in rows})
        return Snapshot(conn, lease, generation, state, loaded, hidden, self.nprobe)

    def load_segment(self, row: SegmentRow) -> Any:
        """The loaded index of a segment (read once per process: segments are immutable)."""
        with self._cache_lock:
            index = self._cache.get(row.id)
        if index is None:
            index = seg.read_segment(self.segments_dir / row.file, row.vectors, row.bytes, mmap=self.mmap)
            with self._cache_lock:
                self._cache[row.id] = index
        return index

    def _forget_except(self, live: set[int]) -> None:
        with self._cache_lock:
            for sid in [s for s in self._cache if s not in live]:
                del self._cache[sid]

    # --- writing ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, log: Callable[[str], None] = print) -> Iterator[Writer]:
        """The one writer: waits for the writers' lock, opens a transaction, commits on exit (a new
        generation, if anything changed) and rolls back on error; then collects unused files."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK_NAME, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"another indexer is updating {self.folder}; waiting for it to finish")
                fcntl.flock(lock, fcntl.LOCK_EX)
            conn = connect(self.db_path)
            try:
                migrate(conn)
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


class Writer:
    """Changes to the store inside one transaction; `commit()` makes them one new generation."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self.dirty = False
        self.commits = 0

    # --- transaction --------------------------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.dirty = False

    @property
    def generation(self) -> int:
        """The generation this transaction will commit as."""
        return int(self.get("generation", "0")) + 1

    def commit(self) -> None:
        """Commit what is pending as the next generation (nothing pending: nothing happens)."""
        if not self.dirty:
            self.conn.execute("COMMIT")
            return
        self.set("generation", str(self.generation))
        faults.step("before-commit")
        self.conn.execute("COMMIT")
        self.commits += 1
        faults.step("after-commit")
        self.dirty = False

    def checkpoint(self) -> None:
        """Commit what is pending and go on in a new transaction."""
        self.commit()
        self.begin()

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    # --- state --------------------------------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set(self, key: str, value: str) -> None:
        """Set a state value (an unchanged value leaves the transaction clean)."""
        if self.get(key) == value:
            return
        self.conn.execute("INSERT INTO state VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                          (key, value))
        self.dirty = True

    def settings(self) -> dict[str, Any] | None:
        """The embedding and chunking settings the index was built with (None: empty store)."""
        value = self.get("settings")
        return json.loads(value) if value else None

    # --- sources and articles -----------------------------------------------------------------------
    def sources(self) -> dict[str, SourceRow]:
        return {r[0]: SourceRow(*r) for r in self.conn.execute("SELECT name, size, mtime_ns, skipped FROM sources")}

    def set_source(self, name: str, size: int, mtime_ns: int, skipped: str | None = None) -> None:
        self.conn.execute("INSERT INTO sources VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                          "size = excluded.size, mtime_ns = excluded.mtime_ns, skipped = excluded.skipped",
                          (name, size, mtime_ns, skipped))
        self.dirty = True

    def drop_source(self, name: str) -> list[str]:
        """Forget a file and delete its articles; returns their ids."""
        gone = [a.id for a in self.articles_of(name)]
        for aid in gone:
            self.delete_article(aid)
        self.conn.execute("DELETE FROM sources WHERE name = ?", (name,))
        self.dirty = True
        return gone

    def article_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM articles").fetchone()[0])

    def passage_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM passages").fetchone()[0])

    def articles_of(self, source: str) -> list[ArticleRow]:
        return [ArticleRow(*r) for r in self.conn.execute(
            "SELECT id, source, title, url, date, hash FROM articles WHERE source = ?", (source,))]

    def article_source(self, article_id: str) -> str | None:
        row = self.conn.execute("SELECT source FROM articles WHERE id = ?", (article_id,)).fetchone()
        return row[0] if row else None

    def digest_source(self, digest: str) -> str | None:
        row = self.conn.execute("SELECT source FROM articles WHERE text_digest = ?", (digest,)).fetchone()
        return row[0] if row else None

    def delete_article(self, article_id: str) -> int:
        """Delete an article and its passages (keyword rows now, vectors by tombstone); returns passages."""
        rows = self.conn.execute("SELECT id, text FROM passages WHERE article_id = ?", (article_id,)).fetchall()
        self.conn.executemany("INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', ?, ?)", rows)
        self.conn.executemany("INSERT OR IGNORE INTO tombstones VALUES (?)", [(r[0],) for r in rows])
        self.conn.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
        self.conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        self.dirty = True
        return len(rows)

    def allocate_ids(self, n: int) -> int:
        """The first of n new passage ids (ids only ever increase, across rebuilds too)."""
        first = int(self.get("next_passage_id", "0"))
        self.set("next_passage_id", str(first + n))
        return first

    def add_articles(self, articles: list[tuple[ArticleRow, str]], passages: list[Passage],
                     vectors: np.ndarray) -> None:
        """Add articles ((row, text digest) pairs) and their passages, whose vectors (same order as
        `passages`) go into one new delta segment, written and fsynced before the rows refer to it."""
        if len(passages) != len(vectors):
            raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
        if passages:
            index = seg.new_index("Flat", vectors.shape[1], vectors)
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                               np.asarray([p.id for p in passages], dtype=np.int64))
            self.add_segment(index, "delta", "Flat")
        generation = self.generation
        self.conn.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(a.id, a.source, a.title, a.url, a.date, a.hash, digest, generation) for a, digest in articles])
        rows = [(p.id, p.article_id, p.text, p.start, p.end) for p in passages]
        self.conn.executemany('INSERT INTO passages (id, article_id, text, start, "end") VALUES (?, ?, ?, ?, ?)', rows)
        self.conn.executemany("INSERT INTO passages_fts(rowid, text) VALUES (?, ?)", [(r[0], r[2]) for r in rows])
        self.dirty = True

    def clear(self) -> None:
        """Delete every source, article, passage and segment (for a full rebuild, in this transaction)."""
        self.conn.execute("INSERT INTO passages_fts(passages_fts) VALUES ('delete-all')")
        for table in ("passages", "articles", "sources", "tombstones"):
            self.conn.execute(f"DELETE FROM {table}")
        self.conn.execute("UPDATE segments SET dropped = ? WHERE dropped IS NULL", (self.generation,))
        self.dirty = True

    # --- segments -----------------------------------------------------------------------------------
    def live_segments(self) -> list[SegmentRow]:
        return [SegmentRow(*r) for r in self.conn.execute(
            f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE dropped IS NULL ORDER BY id")]

    def tombstones(self) -> np.ndarray:
        return np.fromiter((r[0] for r in self.conn.execute("SELECT passage_id FROM tombstones")), np.int64)

    def add_segment(self, index: Any, role: str, kind: str) -> SegmentRow:
        """Write a segment file durably, then record it in this transaction."""
        sid = int(self.conn.execute("SELECT coalesce(max(id), 0) FROM segments").fetchone()[0]) + 1
        sid = max(sid, int(self.get("next_segment", "1")))
        self.set("next_segment", str(sid + 1))
        written = seg.write_segment(self.store.segments_dir, f"seg-{sid:06d}.faiss", index)
        faults.step("segment-written")
        self.conn.execute("INSERT INTO segments (id, file, role, kind, vectors, bytes, crc32, created) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (sid, written.file, role, kind, int(index.ntotal), written.bytes, written.crc32,
                           self.generation))
        self.dirty = True
        return SegmentRow(sid, written.file, role, kind, int(index.ntotal), written.bytes, written.crc32,
                          self.generation)

    def drop_segments(self, ids: list[int], forget_tombstones: np.ndarray) -> None:
        """Stop referencing these segments (their files go once no reader holds them) and drop the
        tombstones of vectors that no live segment holds any more."""
        self.conn.executemany("UPDATE segments SET dropped = ? WHERE id = ?", [(self.generation, i) for i in ids])
        self.conn.executemany("DELETE FROM tombstones WHERE passage_id = ?", [(int(i),) for i in forget_tombstones])
        self.dirty = True

    # --- garbage ------------------------------------------------------------------------------------
    def collect_garbage(self) -> int:
        """Delete segment files no generation a live reader holds can use, and files of failed writes;
        returns how many files went. Runs outside any transaction, under the writers' lock."""
        oldest = oldest_leased(self.store.folder / LEASES_DIR)
        current = int(self.conn.execute("SELECT coalesce((SELECT value FROM state WHERE key = 'generation'), 0)")
                      .fetchone()[0])
        cutoff = current if oldest is None else min(oldest, current)
        dead = self.conn.execute("SELECT id, file FROM segments WHERE dropped IS NOT NULL AND dropped <= ?",
                                 (cutoff,)).fetchall()
        removed = 0
        for sid, name in dead:
            faults.step("during-gc")
            (self.store.segments_dir / name).unlink(missing_ok=True)
            self.conn.execute("DELETE FROM segments WHERE id = ?", (sid,))
            removed += 1
        known = {r[0] for r in self.conn.execute("SELECT file FROM segments")}
        if self.store.segments_dir.is_dir():
            for path in self.store.segments_dir.iterdir():
                if path.name not in known:  # written by a writer that died before its commit
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed
