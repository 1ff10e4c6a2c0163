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
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from qa.errors import StoreError
from qa.store import faults
from qa.store import segments as seg
from qa.store.keywords import common_terms
from qa.store.leases import Lease, leased_generations
from qa.store.schema import (DB_NAME, LEASES_DIR, LOCK_NAME, SEGMENTS_DIR, ArticleRow, SegmentRow, SourceRow,
                             connect, migrate)
from qa.store.snapshot import Snapshot
from qa.types import Passage

SEGMENT_COLUMNS = "id, file, role, kind, vectors, bytes, crc32, created"


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


class Writer:
    """Changes to the store inside one transaction; `commit()` makes them one new generation."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self.dirty = False
        self.commits = 0
        self._delta = [0, 0]  # articles, passages added minus deleted in this transaction

    # --- transaction --------------------------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.dirty = False
        self._delta = [0, 0]
        self.generation = int(self.get("generation", "0")) + 1  # what this transaction commits as
        if self.get("store_id") is None:
            self.set("store_id", secrets.token_hex(8))

    def commit(self) -> None:
        """Commit what is pending as the next generation (nothing pending: nothing happens)."""
        if not self.dirty:
            self.conn.execute("COMMIT")
            return
        self.conn.execute("INSERT INTO generations VALUES (?, ?, ?, datetime('now'))", (self.generation, *self._counts()))
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
    def sources(self, names: Iterable[str] | None = None) -> dict[str, SourceRow]:
        """Every file seen, or the named ones (a targeted build reads a handful of rows, not one
        per file in the archive)."""
        query = "SELECT name, size, mtime_ns, skipped FROM sources"
        if names is None:
            return {r[0]: SourceRow(*r) for r in self.conn.execute(query)}
        rows = (self.conn.execute(query + " WHERE name = ?", (name,)).fetchone() for name in names)
        return {r[0]: SourceRow(*r) for r in rows if r}

    def skipped_count(self) -> int:
        """Files not (wholly) indexed, as of this transaction."""
        return self.conn.execute("SELECT count(*) FROM sources WHERE skipped IS NOT NULL").fetchone()[0]

    def set_source(self, name: str, size: int, mtime_ns: int, skipped: str | None = None,
                   originals: Iterable[str] = ()) -> None:
        """Record a file as seen, with the files holding the originals of the articles it duplicates
        (an unchanged record leaves the transaction clean)."""
        row = self.conn.execute("SELECT size, mtime_ns, skipped FROM sources WHERE name = ?", (name,)).fetchone()
        if row == (size, mtime_ns, skipped) and self._originals(name) == set(originals):
            return
        self.conn.execute("INSERT INTO sources VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                          "size = excluded.size, mtime_ns = excluded.mtime_ns, skipped = excluded.skipped",
                          (name, size, mtime_ns, skipped))
        self.conn.execute("DELETE FROM duplicates WHERE name = ?", (name,))
        self.conn.executemany("INSERT INTO duplicates VALUES (?, ?)", [(name, o) for o in sorted(set(originals))])
        self.dirty = True

    def _originals(self, name: str) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT original FROM duplicates WHERE name = ?", (name,))}

    def duplicates_of(self, names: Iterable[str]) -> set[str]:
        """The files refused as duplicates of articles in these files."""
        rows = self.conn.execute("SELECT DISTINCT name FROM duplicates WHERE original IN "
                                 "(SELECT value FROM json_each(?))", (json.dumps(list(names)),))
        return {r[0] for r in rows}

    def unread_sources(self) -> list[str]:
        """Files a stopped build left to read again (see mark_unread)."""
        return [r[0] for r in self.conn.execute("SELECT name FROM sources WHERE mtime_ns < 0")]

    def mark_unread(self, names: Iterable[str]) -> None:
        """Make the next build read these files whatever their stats (they are read in this one; if it
        stops before their batch commits, they must not look done)."""
        self.conn.execute("UPDATE sources SET mtime_ns = -1 WHERE name IN (SELECT value FROM json_each(?))",
                          (json.dumps(list(names)),))
        self.dirty = True

    def drop_source(self, name: str) -> list[str]:
        """Forget a file and delete its articles; returns their ids."""
        gone = [a.id for a in self.articles_of(name)]
        for aid in gone:
            self.delete_article(aid)
        self.conn.execute("DELETE FROM sources WHERE name = ?", (name,))
        self.conn.execute("DELETE FROM duplicates WHERE name = ?", (name,))
        self.dirty = True
        return gone

    def _counts(self) -> tuple[int, int]:
        """Live (articles, passages) as this transaction stands."""
        row = self.conn.execute("SELECT articles, passages FROM generations WHERE generation = ?",
                                (self.generation - 1,)).fetchone() or (0, 0)
        return row[0] + self._delta[0], row[1] + self._delta[1]

    def article_count(self) -> int:
        return self._counts()[0]

    def passage_count(self) -> int:
        return self._counts()[1]

    def articles_of(self, source: str) -> list[ArticleRow]:
        return [ArticleRow(*r) for r in self.conn.execute(
            "SELECT id, source, title, url, date, hash FROM articles WHERE source = ? AND deleted IS NULL", (source,))]

    def article_source(self, article_id: str) -> str | None:
        row = self.conn.execute("SELECT source FROM articles WHERE id = ? AND deleted IS NULL", (article_id,)).fetchone()
        return row[0] if row else None

    def digest_source(self, digest: str) -> str | None:
        row = self.conn.execute("SELECT source FROM articles WHERE text_digest = ? AND deleted IS NULL",
                                (digest,)).fetchone()
        return row[0] if row else None

    def delete_article(self, article_id: str) -> int:
        """Delete an article and its passages as of this generation (rows stay for older readers until
        purged; vectors are hidden by tombstones); returns how many passages it had."""
        row = self.conn.execute("SELECT version FROM articles WHERE id = ? AND deleted IS NULL", (article_id,)).fetchone()
        if row is None:
            return 0
        ids = [(r[0],) for r in self.conn.execute("SELECT id FROM passages WHERE article = ?", row)]
        self.conn.executemany("INSERT OR REPLACE INTO tombstones VALUES (?, ?, NULL)",
                              [(i, self.generation) for (i,) in ids])
        self.conn.execute("UPDATE passages SET deleted = ? WHERE article = ?", (self.generation, row[0]))
        self.conn.execute("UPDATE articles SET deleted = ? WHERE version = ?", (self.generation, row[0]))
        self._delta[0] -= 1
        self._delta[1] -= len(ids)
        self.dirty = True
        return len(ids)

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
        versions = {}
        for a, digest in articles:
            cur = self.conn.execute(
                "INSERT INTO articles (id, source, title, url, date, hash, text_digest, added) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (a.id, a.source, a.title, a.url, a.date, a.hash, digest,
                                                    self.generation))
            versions[a.id] = cur.lastrowid
        rows = [(p.id, versions[p.article_id], p.text, p.start, p.end, self.generation) for p in passages]
        self.conn.executemany('INSERT INTO passages (id, article, text, start, "end", added) VALUES (?, ?, ?, ?, ?, ?)',
                              rows)
        self.conn.executemany("INSERT INTO passages_fts(rowid, text) VALUES (?, ?)", [(r[0], r[2]) for r in rows])
        self._delta[0] += len(articles)
        self._delta[1] += len(passages)
        self.dirty = True

    def clear(self) -> None:
        """Delete every source, article, passage and segment as of this generation (a full rebuild)."""
        articles, passages = self._counts()
        self._delta[0] -= articles
        self._delta[1] -= passages
        self.conn.execute("UPDATE passages SET deleted = ? WHERE deleted IS NULL", (self.generation,))
        self.conn.execute("UPDATE articles SET deleted = ? WHERE deleted IS NULL", (self.generation,))
        self.conn.execute("UPDATE tombstones SET dropped = ? WHERE dropped IS NULL", (self.generation,))
        self.conn.execute("UPDATE segments SET dropped = ? WHERE dropped IS NULL", (self.generation,))
        self.conn.execute("DELETE FROM sources")
        self.conn.execute("DELETE FROM duplicates")
        self.dirty = True

    def refresh_common_terms(self, share: float, min_passages: int) -> int:
        """Recount the terms common to more than `share` of the passages (at a base merge)."""
        terms = common_terms(self.conn, share, min_passages)
        self.conn.execute("DELETE FROM common_terms")
        self.conn.executemany("INSERT INTO common_terms VALUES (?)", [(t,) for t in terms])
        self.dirty = True
        return len(terms)

    # --- segments -----------------------------------------------------------------------------------
    def live_segments(self) -> list[SegmentRow]:
        return [SegmentRow(*r) for r in self.conn.execute(
            f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE dropped IS NULL ORDER BY id")]

    def tombstones(self) -> np.ndarray:
        return np.fromiter((r[0] for r in self.conn.execute("SELECT passage_id FROM tombstones WHERE dropped IS NULL")),
                           np.int64)

    def add_segment(self, index: Any, role: str, kind: str) -> SegmentRow:
        """Write a segment file durably, then record it in this transaction."""
        sid = int(self.get("next_segment", "1"))
        self.set("next_segment", str(sid + 1))
        written = seg.write_segment(self.store.segments_dir, f"seg-{sid:06d}.faiss", index)
        faults.step("segment-written")
        row = SegmentRow(sid, written.file, role, kind, int(index.ntotal), written.bytes, written.crc32,
                         self.generation)
        self.conn.execute(f"INSERT INTO segments ({SEGMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (row.id, row.file, row.role, row.kind, row.vectors, row.bytes, row.crc32, row.created))
        self.dirty = True
        return row

    def drop_segments(self, ids: list[int], forget_tombstones: np.ndarray) -> None:
        """Stop referencing these segments and the tombstones of vectors no live segment holds any more
        (files and rows go once no reader can need them)."""
        self.conn.executemany("UPDATE segments SET dropped = ? WHERE id = ?", [(self.generation, i) for i in ids])
        self.conn.executemany("UPDATE tombstones SET dropped = ? WHERE passage_id = ?",
                              [(self.generation, int(i)) for i in forget_tombstones])
        self.dirty = True

    # --- garbage ------------------------------------------------------------------------------------
    def collect_garbage(self) -> int:
        """Purge rows and segment files that no live reader can see, and files of failed writes;
        returns how many segment files went. Runs after the commit, under the writers' lock. A row or
        segment alive from generation a to d (exclusive) is kept while a reader holds a g with a <= g < d."""
        held = leased_generations(self.store.folder / LEASES_DIR)
        if held is None:
            return 0  # a reader is between taking its lease and naming its generation
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS leased (g INTEGER PRIMARY KEY)")
            self.conn.execute("DELETE FROM temp.leased")
            self.conn.executemany("INSERT OR IGNORE INTO temp.leased VALUES (?)", [(g,) for g in held])
            unseen = "NOT EXISTS (SELECT 1 FROM temp.leased l WHERE l.g >= {a} AND l.g < {d})"
            purged = self.conn.execute(
                "SELECT id, text FROM passages WHERE deleted IS NOT NULL AND "
                + unseen.format(a="passages.added", d="passages.deleted")).fetchall()
            self.conn.executemany("INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', ?, ?)", purged)
            self.conn.executemany("DELETE FROM passages WHERE id = ?", [(r[0],) for r in purged])
            self.conn.execute("DELETE FROM articles WHERE deleted IS NOT NULL AND "
                              + unseen.format(a="articles.added", d="articles.deleted")
                              + " AND NOT EXISTS (SELECT 1 FROM passages p WHERE p.article = articles.version)")
            self.conn.execute("DELETE FROM tombstones WHERE dropped IS NOT NULL AND "
                              + unseen.format(a="tombstones.generation", d="tombstones.dropped"))
            dead = self.conn.execute("SELECT id, file FROM segments WHERE dropped IS NOT NULL AND "
                                     + unseen.format(a="segments.created", d="segments.dropped")).fetchall()
            self.conn.executemany("DELETE FROM segments WHERE id = ?", [(sid,) for sid, _ in dead])
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        for _, name in dead:  # after the commit: a crash here leaves unknown files, removed next time
            faults.step("during-gc")
            (self.store.segments_dir / name).unlink(missing_ok=True)
        known = {r[0] for r in self.conn.execute("SELECT file FROM segments")}
        removed = len(dead)
        if self.store.segments_dir.is_dir():
            for path in self.store.segments_dir.iterdir():
                if path.name not in known:  # written by a writer that died before its commit
                    path.unlink(missing_ok=True)
                    removed += 1
        self.store.forget_segments({name for _, name in dead})
        return removed
