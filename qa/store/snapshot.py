"""A read-only view of one committed generation: vector search over its segments, keyword search,
passages and articles fetched by id. Everything it returns is as of that generation, however many
commits happen meanwhile: rows carry the generations that added and deleted them, and a lease keeps
the snapshot's segment files (and rows) from being collected. Each query is one short read, so no
reader ever holds a transaction open."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np

from qa import disk
from qa.errors import IndexDamaged
from qa.store import segments as seg
from qa.store.keywords import fts_query, query_words, stems, uncommon
from qa.store.leases import Lease
from qa.store.schema import ArticleRow, SegmentRow, live
from qa.records import Passage, Scope

PASSAGE_COLUMNS = 'p.id, a.id, a.title, p.text, p.start, p."end"'


class Snapshot:
    """One generation of the store; thread-safe; `close()` (or garbage collection) releases it."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock, lease: Lease, generation: int,
                 counts: tuple[int, int], state: dict[str, str], segments: list[tuple[SegmentRow, Any]],
                 hidden: np.ndarray, nprobe: int, common: frozenset[str] = frozenset()) -> None:
        self._conn = conn
        self._lock = lock
        self._lease = lease
        self.generation = generation
        self.article_count, self.passage_count = counts
        self.state = state
        self.segments = segments
        self.hidden = hidden
        self.nprobe = nprobe
        self._selector = seg.hiding(hidden)
        self.common = common

    def _rows(self, sql: str, args: dict[str, Any]) -> list[tuple]:
        try:
            with self._lock:
                return self._conn.execute(sql, {"g": self.generation, **args}).fetchall()
        except sqlite3.DatabaseError as exc:
            if disk.is_damaged(exc):
                raise IndexDamaged(f"the index database is damaged ({exc}); `qa index` moves it aside and "
                                   f"rebuilds it from the corpus") from None
            raise

    @property
    def version(self) -> tuple[str, int]:
        """(store id, generation), as `Store.version()` gives it."""
        return self.state.get("store_id", ""), self.generation

    @property
    def index_type(self) -> str:
        return seg.describe_segments([row for row, _ in self.segments])

    # --- search -------------------------------------------------------------------------------------
    def search_vectors(self, query: np.ndarray, k: int, among: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(passage id, cosine similarity) of the k nearest live passages (of those in `among`, when
        given), best first."""
        selector = self._selector
        if among is not None:
            import faiss

            allowed = faiss.IDSelectorBatch(np.ascontiguousarray(among, dtype=np.int64))
            selector = faiss.IDSelectorAnd(allowed, self._selector) if self._selector is not None else allowed
            selector.referenced = (allowed, self._selector)  # FAISS keeps no reference of its own
        return seg.search([index for _, index in self.segments], query, k, self.nprobe, selector)

    def passages_in(self, scope: Scope) -> np.ndarray:
        """The ids of the live passages of the articles in `scope` (qa.records.Scope)."""
        where, args = [live("a"), live("p")], {}
        if scope.article:
            where.append("a.id = :article")
            args["article"] = scope.article
        if scope.since:
            where.append("a.date >= :since")
            args["since"] = scope.since
        if scope.until:
            where.append("a.date <= :until")
            args["until"] = scope.until + "~"  # a day written with a time still counts
        if scope.sources:
            ors = []
            for n, name in enumerate(scope.sources):
                args[f"s{n}"] = f"%{name.strip().lower()}%"
                ors.append(f"(lower(json_extract(a.meta, '$.site')) LIKE :s{n} OR lower(a.url) LIKE :s{n})")
            where.append("(" + " OR ".join(ors) + ")")
        rows = self._rows(f"SELECT p.id FROM passages p JOIN articles a ON a.version = p.article "
                          f"WHERE {' AND '.join(where)}", args)
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def search_keywords(self, text: str, k: int, among: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(passage id, BM25 score) of up to k passages sharing a term with `text` (of those in `among`,
        when given), best first; terms common to over 1 % of a large archive's passages are left out
        unless nothing else is left."""
        words = query_words(text)
        if not words or k <= 0:
            return []
        if self.common:
            with self._lock:
                word_stems = stems(self._conn, words)
            words = uncommon(words, word_stems, self.common)
        query, n = fts_query(words), 2 * k
        while True:  # FTS5 ranks alone (joining each match to its row took 2.5x as long at 1M passages)
            ranked = self._rows("SELECT rowid, -bm25(passages_fts) FROM passages_fts WHERE passages_fts MATCH :q "
                                "ORDER BY bm25(passages_fts) LIMIT :n", {"q": query, "n": n})
            alive = self._live_passage_ids([i for i, _ in ranked])
            if among is not None:
                alive &= set(among.tolist())
            hits = [(int(i), float(s)) for i, s in ranked if i in alive][:k]
            if len(hits) == k or len(ranked) < n:  # else deleted or newer passages took places: look further
                return hits
            n *= 4

    def _live_passage_ids(self, ids: list[int]) -> set[int]:
        rows = self._rows(f"SELECT id FROM passages p WHERE id IN (SELECT value FROM json_each(:ids)) AND {live('p')}",
                          {"ids": json.dumps(ids)})
        return {r[0] for r in rows}

    # --- rows ---------------------------------------------------------------------------------------
    def passages(self, ids: list[int]) -> dict[int, Passage]:
        """The passages with these ids that are live in this generation."""
        if not ids:
            return {}
        marks = ",".join(f":i{n}" for n in range(len(ids)))
        rows = self._rows(f"SELECT {PASSAGE_COLUMNS} FROM passages p JOIN articles a ON a.version = p.article "
                          f"WHERE p.id IN ({marks}) AND {live('p')}", {f"i{n}": i for n, i in enumerate(ids)})
        return {r[0]: Passage(*r) for r in rows}

    def articles(self, ids: list[str] | None = None, limit: int | None = None,
                 by_date: bool = False) -> list[ArticleRow]:
        """Articles (all, or those with these ids) with their passage counts, the newest indexed first (or,
        `by_date`, the newest published first, undated ones last)."""
        args: dict[str, Any] = {}
        where = live("a")
        if ids is not None:
            if not ids:
                return []
            where += f" AND a.id IN ({','.join(f':i{n}' for n in range(len(ids)))})"
            args = {f"i{n}": i for n, i in enumerate(ids)}
        rows = self._rows(
            f"SELECT a.id, a.source, a.title, a.url, a.date, a.hash, a.meta, "
            f"(SELECT count(*) FROM passages p WHERE p.article = a.version) FROM articles a WHERE {where} "
            + (" ORDER BY a.date IS NULL, a.date DESC, a.id" if by_date else " ORDER BY a.added DESC, a.id")
            + (f" LIMIT {int(limit)}" if limit else ""), args)
        return [ArticleRow.from_row(*r[:6], r[7], meta=r[6]) for r in rows]

    def article_passages(self, article_id: str) -> list[Passage]:
        """An article's passages in text order."""
        rows = self._rows(f"SELECT {PASSAGE_COLUMNS} FROM passages p JOIN articles a ON a.version = p.article "
                          f"WHERE a.id = :id AND {live('a')} ORDER BY p.start", {"id": article_id})
        return [Passage(*r) for r in rows]

    def article_text(self, article_id: str) -> str:
        """An article's text put back together from its passages (they overlap; what lies between two is
        white space, shown as a paragraph break)."""
        text, end = [], 0
        for p in self.article_passages(article_id):
            if p.start >= end:
                text.append(("\n\n" if text else "") + p.text)
            elif p.end > end:
                text.append(p.text[end - p.start:])
            end = max(end, p.end)
        return "".join(text)

    def sources(self) -> list[str]:
        """File names of the indexed articles."""
        return [r[0] for r in self._rows(f"SELECT DISTINCT source FROM articles a WHERE {live('a')} "
                                         f"ORDER BY source", {})]

    def skipped(self) -> list[tuple[str, str]]:
        """(file name, reason) of the files the latest build could not (wholly) index."""
        return self._rows("SELECT name, skipped FROM sources WHERE skipped IS NOT NULL ORDER BY name", {})

    def check(self, folder: Path | None = None) -> list[str]:
        """Problems found by a full consistency check (empty: consistent): every live vector has its
        passage, every passage its vector and keyword row, once; counts agree; with the segments
        `folder`, every segment file matches its recorded CRC-32 too."""
        problems = []
        ids = [seg.segment_vectors(index)[0] for _, index in self.segments]
        held = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        if len(held) != len(np.unique(held)):
            problems.append("a vector is held by two segments")
        vectors = set(held.tolist()) - set(self.hidden.tolist())
        rows = {r[0] for r in self._rows(f"SELECT id FROM passages p WHERE {live('p')}", {})}
        if vectors != rows:
            problems.append(f"{len(vectors - rows)} vectors without a passage, {len(rows - vectors)} passages "
                            f"without a vector")
        try:
            self._rows("INSERT INTO passages_fts(passages_fts, rank) VALUES ('integrity-check', 1)", {})
        except (sqlite3.DatabaseError, IndexDamaged) as exc:
            problems.append(f"the keyword index disagrees with the passages ({exc})")
        articles = self._rows(f"SELECT count(*) FROM articles a WHERE {live('a')}", {})[0][0]
        if (articles, len(rows)) != (self.article_count, self.passage_count):
            problems.append(f"counts: {articles} articles and {len(rows)} passages, the generation says "
                            f"{self.article_count} and {self.passage_count}")
        if folder is not None:
            for row, _ in self.segments:
                if seg.crc32_of(folder / row.file) != row.crc32:
                    problems.append(f"segment {row.file} does not match its checksum")
        return problems

    def close(self) -> None:
        self._lease.release()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to release
            pass
