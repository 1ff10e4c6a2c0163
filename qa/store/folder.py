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
import os
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from qa import disk
from qa.errors import IndexDamaged, QAError, StoreError
from qa.store import legacy
from qa.store import segments as seg
from qa.store.leases import Lease
from qa.store.schema import (DB_NAME, LEASES_DIR, LOCK_NAME, SEGMENTS_DIR, SegmentRow, connect, connect_read_only, migrate)
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
        self._inode: tuple[int, int, int] | None = None

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

    def _open_for_writing(self) -> sqlite3.Connection:
        """The writer's connection; IndexDamaged when the database cannot be read as one."""
        conn = connect(self.db_path)
        try:
            migrate(conn)
            conn.execute("SELECT count(*) FROM state").fetchone()
        except BaseException as exc:
            conn.close()
            raise _translated(exc, self.db_path) from None
        return conn

    def _reader(self) -> sqlite3.Connection:
        """The connection readers share (autocommit: every query is its own short read); opened again
        when the database file was replaced (a rebuild). Where the folder cannot take a write (a full disk,
        a read-only folder), it is opened read-only."""
        with self._lock:
            st = self.db_path.stat()
            # The file's identity: a new file may reuse a deleted one's inode number, but not its ctime too.
            identity = (st.st_dev, st.st_ino, st.st_ctime_ns)
            if self._conn is None or self._inode != identity:  # the old one closes with its last snapshot
                self._conn, self._inode = self._open_for_reading(), identity
            return self._conn

    def _open_for_reading(self) -> sqlite3.Connection:
        try:
            conn = connect(self.db_path)
        except sqlite3.OperationalError as exc:
            if not _read_only_will_do(exc):
                raise
            return connect_read_only(self.db_path)
        try:
            migrate(conn)
        except sqlite3.OperationalError as exc:  # a migration to apply, and no room or right to write it
            conn.close()
            if not _cannot_write(exc):
                raise
            return connect_read_only(self.db_path)
        return conn

    def version(self) -> tuple[str, int]:
        """(store id, last committed generation): a new id means a new database, whose generations
        started again, so a reader must not compare generations alone."""
        if not self.exists():
            return "", 0
        try:
            conn = self._reader()
            with self._lock:
                state = dict(conn.execute("SELECT key, value FROM state WHERE key IN ('store_id', 'generation')"))
        except FileNotFoundError:  # the database went between the check and the open (a set-aside)
            return "", 0
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self.db_path) from None
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
            return self._snapshot(conn, lease)
        except sqlite3.DatabaseError as exc:
            lease.release()
            raise _translated(exc, self.db_path) from None
        except BaseException:
            lease.release()
            raise

    def _snapshot(self, conn: sqlite3.Connection, lease: Lease) -> Snapshot:
        """The rows of the last committed generation, read in one transaction, and its segments loaded."""
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
    def writer(self, log: Callable[[str], None] = print, set_aside: str | None = None) -> Iterator[Writer]:
        """The one writer: waits for the writers' lock, opens a transaction, commits on exit (a new
        generation, if anything changed) and rolls back on error (removing the segment files it wrote);
        then collects what no reader needs. With `set_aside` (why the index is damaged), the damaged files
        are first moved into `damaged-<time>/` — unless the database proves sound by then (another
        process moved them already) — and the writer starts on a new, empty store (`moved_aside`).
        A full disk or a folder that cannot be written ends it with one DiskFullError / ReadOnlyError;
        a damaged database with IndexDamaged."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            lock = open(self.folder / LOCK_NAME, "a+")
        except OSError as exc:
            raise _translated(exc, self.folder) from None
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"another indexer is updating {self.folder}; waiting for it to finish")
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                moved = self._set_aside_if_damaged(set_aside, log) if set_aside else None
                conn = self._open_for_writing()
                yield from self._transaction(conn, moved, log)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _transaction(self, conn: sqlite3.Connection, moved: Path | None,
                     log: Callable[[str], None]) -> Iterator[Writer]:
        try:
            w = Writer(self, conn)
            w.moved_aside = moved
            try:
                w.begin()
                yield w
                w.commit()
            except BaseException as exc:
                try:
                    w.rollback()
                except sqlite3.DatabaseError:
                    pass  # the rollback of a damaged or full database: the files go anyway
                if _is_ours(exc):
                    raise _translated(exc, self.db_path) from None
                raise
            try:
                w.collect_garbage()
            except (OSError, sqlite3.DatabaseError) as exc:
                if not _cannot_write(exc):
                    raise _translated(exc, self.db_path) from None
                log(f"the commit stands; what it left to collect is collected next time ({_translated(exc, self.folder)})")
        finally:
            conn.close()

    def _set_aside_if_damaged(self, reason: str, log: Callable[[str], None]) -> Path | None:
        """Move the database (with its WAL) and the segments into `damaged-<time>/`, unless they are sound
        now (another process moved them and rebuilt already); the folder moved to, or None."""
        problem = self.damage()
        if problem is None:
            log(f"the index was reported damaged ({reason}) but is sound now: nothing moved aside")
            return None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = self.folder / f"damaged-{stamp}"
        n = 1
        while aside.exists():
            n += 1
            aside = self.folder / f"damaged-{stamp}-{n}"
        try:
            aside.mkdir()
            for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", SEGMENTS_DIR):
                if (self.folder / name).exists():
                    os.rename(self.folder / name, aside / name)  # one rename each: no space needed
        except OSError as exc:
            raise _translated(exc, self.folder) from None
        with contextlib.suppress(OSError):
            (aside / "why.txt").write_text(f"{reason}\n{problem}\n", encoding="utf-8")
        self._drop_reader()
        log(f"the index was damaged ({problem}); its files were moved to {aside} and it is rebuilt from the corpus")
        return aside

    def damage(self) -> str | None:
        """What is damaged in the index, by a full check of the database (SQLite's quick_check and the
        keyword index's own check) and of the live segment files' sizes; None when it is sound. Reads the
        whole database: for recovery, not for every build."""
        if not self.exists():
            return None
        writable = True  # the keyword index's check is written as an INSERT (the writer's lock is held)
        try:
            try:
                conn = connect(self.db_path)
            except sqlite3.OperationalError as exc:
                if not _read_only_will_do(exc):
                    raise
                conn, writable = connect_read_only(self.db_path), False  # a full disk is no damage
        except (QAError, sqlite3.DatabaseError) as exc:
            return str(exc)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                return f"the database fails SQLite's check: {result}"
            if writable:
                conn.execute("INSERT INTO passages_fts(passages_fts, rank) VALUES ('integrity-check', 1)")
            rows = [SegmentRow(*r) for r in conn.execute(
                f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE dropped IS NULL ORDER BY id")]
        except sqlite3.DatabaseError as exc:
            return f"the database cannot be read ({exc})"
        finally:
            conn.close()
        bad = seg.damaged_segments(self.segments_dir, rows)
        return f"index segment {bad[0]} is missing or damaged" if bad else None

    def _drop_reader(self) -> None:
        """Forget the shared connection and the loaded segments (the database was moved away)."""
        with self._lock:  # not closed: snapshots still reading through it close it when they go
            self._conn, self._inode = None, None
            self._cache.clear()


def _is_ours(exc: BaseException) -> bool:
    """An error the writer turns into one of qa's: a full disk, a read-only folder, a damaged database."""
    return disk.is_full(exc) or disk.is_read_only(exc) or disk.is_damaged(exc)


def _read_only_will_do(exc: BaseException) -> bool:
    """A failed open for writing that a read-only open gets past (a full disk shows as a failed I/O on the
    WAL's files there)."""
    return _cannot_write(exc) or getattr(exc, "sqlite_errorcode", 0) & 0xFF == disk.SQLITE_IOERR


def _cannot_write(exc: BaseException) -> bool:
    return disk.is_full(exc) or disk.is_read_only(exc) or getattr(exc, "sqlite_errorcode", 0) & 0xFF == disk.SQLITE_CANTOPEN


def _translated(exc: BaseException, path: Path) -> BaseException:
    """A full disk or read-only folder as qa's error naming `path`'s folder; a damaged database as
    IndexDamaged; anything else as it is."""
    folder = path.parent if path.suffix or path.name == DB_NAME else path
    if disk.is_damaged(exc):
        return IndexDamaged(f"the index database {path} is damaged ({exc}); `qa index` moves it aside and "
                            f"rebuilds it from the corpus")
    return disk.translated(exc, folder, "writing the index",
                           after="; the last committed index is still served")
