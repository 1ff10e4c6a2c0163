"""The store's single writer: changes inside one transaction, committed as one new generation.

    with store.writer() as w:           # one writer at a time (file lock); commit on exit, rollback on error
        w.delete_article("old-id")
        w.add_articles([...], passages, vectors)
        w.files.record("new.txt", size, mtime_ns)   # the indexer's bookkeeping (qa.store.sources)

Each named write step (segment-written, before-commit, after-commit, during-gc, during-compaction) raises
the audit event `qa.store.step` (`sys.audit`): nothing happens unless an audit hook listens, which is how
the crash tests stop a build at every step (tests/crash_at.py).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.ingest.copies import CONTAINMENT, Signature, containment
from qa.records import Passage
from qa.store import segments as seg
from qa.store.keywords import common_terms
from qa.store.leases import leased_generations
from qa.store.schema import LEASES_DIR, ArticleRow, SegmentRow
from qa.store.sources import FileLog

if TYPE_CHECKING:
    from qa.store.folder import Store

STEP = "qa.store.step"  # the audit event of a named write step
STEPS = ("segment-written", "before-commit", "after-commit", "during-gc", "during-compaction")
SEGMENT_COLUMNS = "id, file, role, kind, vectors, bytes, crc32, created"


def vector_key(title: str, text: str) -> str:
    """What a passage's vector is made of (its article's title and its text: see passage_text)."""
    return hashlib.sha1(f"{title}\n{text}".encode("utf-8", "surrogatepass")).hexdigest()


class Writer:
    """Changes to the store inside one transaction; `commit()` makes them one new generation."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self.dirty = False
        self.commits = 0
        self._delta = [0, 0]  # articles, passages added minus deleted in this transaction
        self.files = FileLog(self)
        self.written: list[Path] = []  # segment files of the open transaction: removed if it rolls back
        self.moved_aside: Path | None = None  # where a damaged index's files went before this writer began
        # Passages deleted by this writer, by what their vector is made of: an article moved to another
        # file, or whose metadata alone changed, takes their vectors instead of being embedded again.
        self.deleted_passages: dict[str, int] = {}
        self._signatures: dict[str, tuple[Signature, str]] = {}  # article id -> (signature, story), not yet added

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
        sys.audit(STEP, "before-commit")
        self.conn.execute("COMMIT")
        self.commits += 1
        self.written = []
        sys.audit(STEP, "after-commit")
        self.dirty = False

    def checkpoint(self) -> None:
        """Commit what is pending and go on in a new transaction."""
        self.commit()
        self.begin()

    def rollback(self) -> None:
        """Undo the open transaction, and remove the segment files it wrote (nothing refers to them)."""
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        finally:
            for path in self.written:
                path.unlink(missing_ok=True)
            self.written = []
            self.deleted_passages = {}
            self._signatures = {}

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

    # --- articles --------------------------------------------------------------------------------
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
        return [ArticleRow.from_row(*r[:6], meta=r[6]) for r in self.conn.execute(
            "SELECT id, source, title, url, date, hash, meta FROM articles WHERE source = ? AND deleted IS NULL",
            (source,))]

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
        found = self.conn.execute("SELECT p.id, a.title, p.text FROM passages p JOIN articles a ON a.version = p.article "
                                  "WHERE p.article = ?", row).fetchall()
        ids = [(i,) for i, _, _ in found]
        self.deleted_passages.update((vector_key(title, text), i) for i, title, text in found)
        self.conn.executemany("INSERT OR REPLACE INTO tombstones VALUES (?, ?, NULL)",
                              [(i, self.generation) for (i,) in ids])
        self.conn.execute("UPDATE passages SET deleted = ? WHERE article = ?", (self.generation, row[0]))
        self.conn.execute("UPDATE articles SET deleted = ? WHERE version = ?", (self.generation, row[0]))
        self._delta[0] -= 1
        self._delta[1] -= len(ids)
        self.dirty = True
        return len(ids)

    def reusable_vectors(self, passages: list[Passage]) -> dict[int, np.ndarray]:
        """{position in `passages`: vector} for the passages whose title and text are those of a passage
        deleted by this writer whose vector is still in a live segment (vectors stored as SQ8 come back
        decoded). One pass over the segments' ids, decoding only the vectors found, and only when there is
        something to find."""
        wanted = {i: self.deleted_passages[vector_key(p.title, p.text)] for i, p in enumerate(passages)
                  if vector_key(p.title, p.text) in self.deleted_passages}
        if not wanted:
            return {}
        targets = np.fromiter(set(wanted.values()), np.int64)
        found: dict[int, np.ndarray] = {}
        for row in self.live_segments():
            ids, vectors = seg.segment_vectors(self.store.load_segment(row), only=targets)
            found.update(zip(ids.tolist(), vectors))
        return {i: found[pid] for i, pid in wanted.items() if pid in found}

    def allocate_ids(self, n: int) -> int:
        """The first of n new passage ids (ids only ever increase, across rebuilds too)."""
        first = int(self.get("next_passage_id", "0"))
        self.set("next_passage_id", str(first + n))
        return first

    def story_of(self, article_id: str, sig: Signature | None) -> str | None:
        """The story (the id of its first article) that an article with this signature is a wire copy of,
        among the live articles and those of this writer not yet added; None: it is no copy. The signature
        is kept for `add_articles`, which stores it."""
        if sig is None:
            return None
        bands = sig.bands()
        values = ", ".join("(?, ?)" for _ in bands)
        found = self.conn.execute(
            "SELECT a.id, a.meta, s.minhash, s.shingles FROM signatures s JOIN articles a ON a.version = s.version "
            f"WHERE a.deleted IS NULL AND a.id != ? AND s.version IN (SELECT version FROM story_bands "
            f"WHERE (band, key) IN (VALUES {values}))",
            [article_id, *(v for band, key in enumerate(bands) for v in (band, key))]).fetchall()
        candidates = [(Signature.from_bytes(m, n), (json.loads(meta or "{}").get("story") or other))
                      for other, meta, m, n in found]
        candidates += [pair for other, pair in self._signatures.items() if other != article_id]
        best = max(((containment(sig, other), story) for other, story in candidates), default=(0.0, None))
        story = best[1] if best[0] >= CONTAINMENT and best[1] != article_id else None  # not a copy of itself
        self._signatures[article_id] = (sig, story or article_id)
        return story

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
                "INSERT INTO articles (id, source, title, url, date, hash, text_digest, added, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (a.id, a.source, a.title, a.url, a.date, a.hash, digest,
                                                       self.generation, a.meta_json()))
            versions[a.id] = cur.lastrowid
            self._add_signature(a.id, cur.lastrowid)
        rows = [(p.id, versions[p.article_id], p.text, p.start, p.end, self.generation) for p in passages]
        self.conn.executemany('INSERT INTO passages (id, article, text, start, "end", added) VALUES (?, ?, ?, ?, ?, ?)',
                              rows)
        self.conn.executemany("INSERT INTO passages_fts(rowid, text) VALUES (?, ?)", [(r[0], r[2]) for r in rows])
        self._delta[0] += len(articles)
        self._delta[1] += len(passages)
        self.dirty = True

    def _add_signature(self, article_id: str, version: int) -> None:
        kept = self._signatures.pop(article_id, None)
        if kept is None:
            return
        sig = kept[0]
        self.conn.execute("INSERT INTO signatures VALUES (?, ?, ?)", (version, sig.shingles, sig.to_bytes()))
        self.conn.executemany("INSERT OR IGNORE INTO story_bands VALUES (?, ?, ?)",
                              [(band, key, version) for band, key in enumerate(sig.bands())])

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
        self.written.append(self.store.segments_dir / written.file)
        sys.audit(STEP, "segment-written")
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
            gone = [(v,) for (v,) in self.conn.execute(
                "SELECT version FROM articles WHERE deleted IS NOT NULL AND "
                + unseen.format(a="articles.added", d="articles.deleted")
                + " AND NOT EXISTS (SELECT 1 FROM passages p WHERE p.article = articles.version)")]
            self.conn.executemany("DELETE FROM articles WHERE version = ?", gone)
            self.conn.executemany("DELETE FROM signatures WHERE version = ?", gone)
            self.conn.executemany("DELETE FROM story_bands WHERE version = ?", gone)
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
            sys.audit(STEP, "during-gc")
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
