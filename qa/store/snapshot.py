"""A read-only view of one committed generation: vector search over its segments, keyword search,
passages and articles fetched by id. Everything it returns comes from that generation, however many
commits happen meanwhile: it holds an SQLite read transaction (WAL keeps it consistent) and a lease
that keeps its segment files from being collected."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import numpy as np

from qa.store import segments as seg
from qa.store.keywords import fts_query
from qa.store.leases import Lease
from qa.store.schema import ArticleRow, SegmentRow
from qa.types import Passage


class Snapshot:
    """One generation of the store; thread-safe; `close()` (or garbage collection) releases it."""

    def __init__(self, conn: sqlite3.Connection, lease: Lease, generation: int, state: dict[str, str],
                 segments: list[tuple[SegmentRow, Any]], hidden: np.ndarray, nprobe: int) -> None:
        self._conn = conn
        self._lease = lease
        self._lock = threading.Lock()
        self.generation = generation
        self.state = state
        self.segments = segments
        self.hidden = hidden
        self.nprobe = nprobe

    # --- counts -------------------------------------------------------------------------------------
    def _one(self, sql: str, args: tuple = ()) -> Any:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()[0]

    @property
    def passage_count(self) -> int:
        return int(self._one("SELECT count(*) FROM passages"))

    @property
    def article_count(self) -> int:
        return int(self._one("SELECT count(*) FROM articles"))

    @property
    def index_type(self) -> str:
        return seg.describe_segments([row for row, _ in self.segments])

    # --- search -------------------------------------------------------------------------------------
    def search_vectors(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(passage id, cosine similarity) of the k nearest live passages, best first."""
        return seg.search([(index, self.hidden) for _, index in self.segments], query, k, self.nprobe)

    def search_keywords(self, text: str, k: int) -> list[tuple[int, float]]:
        """(passage id, BM25 score) of up to k passages sharing a term with `text`, best first."""
        match = fts_query(text)
        if match is None or k <= 0:
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT rowid, -bm25(passages_fts) FROM passages_fts WHERE passages_fts MATCH ? "
                "ORDER BY bm25(passages_fts) LIMIT ?", (match, k)).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    # --- rows ---------------------------------------------------------------------------------------
    def passages(self, ids: list[int]) -> dict[int, Passage]:
        """The passages with these ids (those that exist in this generation)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._conn.execute(
                f'SELECT p.id, p.article_id, a.title, p.text, p.start, p."end" FROM passages p '
                f"JOIN articles a ON a.id = p.article_id WHERE p.id IN ({marks})", ids).fetchall()
        return {r[0]: Passage(*r) for r in rows}

    def articles(self, ids: list[str] | None = None, limit: int | None = None) -> list[ArticleRow]:
        """Articles (all, or those with these ids) with their passage counts, newest first."""
        where, args = "", ()
        if ids is not None:
            if not ids:
                return []
            where, args = f"WHERE a.id IN ({','.join('?' * len(ids))})", tuple(ids)
        sql = (f"SELECT a.id, a.source, a.title, a.url, a.date, a.hash, "
               f"(SELECT count(*) FROM passages p WHERE p.article_id = a.id) FROM articles a {where} "
               f"ORDER BY a.generation DESC, a.id" + (f" LIMIT {int(limit)}" if limit else ""))
        with self._lock:
            return [ArticleRow(*r) for r in self._conn.execute(sql, args).fetchall()]

    def article_passages(self, article_id: str) -> list[Passage]:
        """An article's passages in text order."""
        with self._lock:
            rows = self._conn.execute(
                'SELECT p.id, p.article_id, a.title, p.text, p.start, p."end" FROM passages p '
                "JOIN articles a ON a.id = p.article_id WHERE p.article_id = ? ORDER BY p.start",
                (article_id,)).fetchall()
        return [Passage(*r) for r in rows]

    def sources(self) -> list[str]:
        """File names of the indexed articles."""
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT DISTINCT source FROM articles ORDER BY source")]

    def skipped(self) -> list[tuple[str, str]]:
        """(file name, reason) of the files the last builds could not index."""
        with self._lock:
            return self._conn.execute(
                "SELECT name, skipped FROM sources WHERE skipped IS NOT NULL ORDER BY name").fetchall()

    def check(self, folder: Any = None) -> list[str]:
        """Problems found by a full consistency check (empty: consistent): every live vector has its
        passage, every passage its vector and keyword row, once; with the segments `folder`, every
        segment file matches its recorded CRC-32 too."""
        problems = []
        ids = [seg.segment_vectors(index)[0] for _, index in self.segments]
        held = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        if len(held) != len(np.unique(held)):
            problems.append("a vector is held by two segments")
        live = set(held.tolist()) - set(self.hidden.tolist())
        with self._lock:
            rows = {r[0] for r in self._conn.execute("SELECT id FROM passages")}
            keywords = {r[0] for r in self._conn.execute("SELECT rowid FROM passages_fts")}
        if live != rows:
            problems.append(f"{len(live - rows)} vectors without a passage, {len(rows - live)} passages without a vector")
        if keywords != rows:
            problems.append(f"the keyword index has {len(keywords)} passages, the store {len(rows)}")
        if folder is not None:
            for row, _ in self.segments:
                if seg.crc32_of(folder / row.file) != row.crc32:
                    problems.append(f"segment {row.file} does not match its checksum")
        return problems

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                self._conn.close()
                self._conn = None  # type: ignore[assignment]
            self._lease.release()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to release
            pass
