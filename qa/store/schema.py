"""The store's schema: tables, the format number, ordered migrations, and the typed rows read back.

One SQLite database (WAL mode) is the source of truth for sources, articles, passages, keyword index,
vector segments and tombstones. Migrations are applied in order, each in the same transaction as the
record that says it was applied, so an upgrade is never half done.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from qa import disk
from qa.errors import IndexDamaged, StoreError

DB_NAME = "qa.db"
TOKENIZER = "porter unicode61 remove_diacritics 2"
SEGMENTS_DIR = "segments"
LEASES_DIR = "leases"
LOCK_NAME = ".lock"

# Ordered migrations; their count is the format number. Never edit one that has shipped: append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- One row per commit: what a reader of that generation sees.
    CREATE TABLE generations (
        generation INTEGER PRIMARY KEY, articles INTEGER NOT NULL, passages INTEGER NOT NULL,
        committed TEXT NOT NULL
    );
    -- One row per file in the corpus folder as last seen: unchanged size and mtime mean unchanged file.
    CREATE TABLE sources (
        name TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        skipped TEXT                                  -- why the file is not (wholly) indexed; NULL: it is
    );
    -- Articles and passages are versioned by generation: a row is live for a reader of generation G
    -- when added <= G and (deleted IS NULL or deleted > G). Deleted rows are purged once no reader
    -- can see them, so readers need no long transactions and the WAL is always checkpointed.
    CREATE TABLE articles (
        version INTEGER PRIMARY KEY, id TEXT NOT NULL, source TEXT NOT NULL,
        title TEXT NOT NULL, url TEXT, date TEXT,
        hash TEXT NOT NULL,                           -- content hash: a change means re-embedding
        text_digest TEXT NOT NULL,                    -- words only: the same text under two names
        added INTEGER NOT NULL, deleted INTEGER
    );
    CREATE UNIQUE INDEX articles_live ON articles(id) WHERE deleted IS NULL;
    CREATE UNIQUE INDEX articles_live_digest ON articles(text_digest) WHERE deleted IS NULL;
    CREATE INDEX articles_live_source ON articles(source) WHERE deleted IS NULL;
    CREATE INDEX articles_by_id ON articles(id, added);
    CREATE INDEX articles_deleted ON articles(deleted) WHERE deleted IS NOT NULL;
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY, file TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('base', 'delta')),
        kind TEXT NOT NULL,                           -- FAISS factory string, e.g. Flat or IVF1024,Flat
        vectors INTEGER NOT NULL, bytes INTEGER NOT NULL, crc32 INTEGER NOT NULL,
        created INTEGER NOT NULL,                     -- generation that first references it
        dropped INTEGER                               -- generation that stopped referencing it
    );
    CREATE TABLE passages (
        id INTEGER PRIMARY KEY,                       -- never reused: ids only increase
        article INTEGER NOT NULL REFERENCES articles(version),
        text TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
        added INTEGER NOT NULL, deleted INTEGER
    );
    CREATE INDEX passages_article ON passages(article);
    CREATE INDEX passages_deleted ON passages(deleted) WHERE deleted IS NOT NULL;
    -- Vectors of deleted passages still inside a segment: hidden at search from `generation` on,
    -- until the merge (generation `dropped`) that leaves them out.
    CREATE TABLE tombstones (passage_id INTEGER PRIMARY KEY, generation INTEGER NOT NULL, dropped INTEGER);
    CREATE VIRTUAL TABLE passages_fts USING fts5(
        text, content='passages', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');
    -- Stemmed terms in more than a share of all passages, as of the last base merge: keyword search
    -- leaves them out of a query (their BM25 weight is small, their posting lists long).
    CREATE TABLE common_terms (term TEXT PRIMARY KEY);
    """,
    """
    -- IF NOT EXISTS: some format-1 stores were written by a qa that had these in migration 1.
    CREATE INDEX IF NOT EXISTS sources_skipped ON sources(name) WHERE skipped IS NOT NULL;
    -- Files a stopped build left to read again (mtime_ns -1): a targeted build reads them too.
    CREATE INDEX IF NOT EXISTS sources_unread ON sources(name) WHERE mtime_ns < 0;
    -- Files refused (wholly or in part) as duplicates, with the file holding the original: when that
    -- file changes or goes, the duplicate is read again (and no other skipped file is).
    CREATE TABLE IF NOT EXISTS duplicates (
        name TEXT NOT NULL, original TEXT NOT NULL, PRIMARY KEY (name, original)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS duplicates_original ON duplicates(original);
    -- Format 1 re-read every skipped file at each build and may lack their originals: read them once
    -- more so that their originals are recorded.
    UPDATE sources SET mtime_ns = -1 WHERE skipped IS NOT NULL;
    """,
    """
    -- An article's metadata beyond its URL and date (author, updated, site, language;
    -- later also the dateline and the story it is a copy of), as JSON.
    ALTER TABLE articles ADD COLUMN meta TEXT;
    """,
    """
    -- Wire copies (qa.ingest.copies): each article version's MinHash signature, and its LSH band keys to
    -- find candidate copies in a few indexed lookups. Rows go with their article version's purge.
    CREATE TABLE signatures (version INTEGER PRIMARY KEY, shingles INTEGER NOT NULL, minhash BLOB NOT NULL);
    CREATE TABLE story_bands (
        band INTEGER NOT NULL, key INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (band, key, version)
    ) WITHOUT ROWID;
    CREATE INDEX story_bands_version ON story_bands(version);
    """,
)
FORMAT = len(MIGRATIONS)


@dataclass(frozen=True)
class ArticleRow:
    """An indexed article as the store holds it (its text lives in its passages)."""

    id: str
    source: str
    title: str
    url: str | None
    date: str | None
    hash: str
    passages: int = 0
    author: str | None = None
    updated: str | None = None
    site: str | None = None
    language: str | None = None
    dateline: str | None = None
    story: str | None = None  # the id of the article this one is a wire copy of (None: not a copy)

    EXTRA = ("author", "updated", "site", "language", "dateline", "story")  # kept together in the `meta` column

    def meta_json(self) -> str | None:
        """The extra metadata as the `meta` column holds it (None: none)."""
        extra = {k: getattr(self, k) for k in self.EXTRA if getattr(self, k)}
        return json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None

    @classmethod
    def from_row(cls, *columns: object, meta: str | None = None) -> ArticleRow:
        """A row read back: its columns in field order, and the `meta` column."""
        extra = json.loads(meta) if meta else {}
        return cls(*columns, **{k: extra.get(k) for k in cls.EXTRA})


LIVE = "{t}.added <= {g} AND ({t}.deleted IS NULL OR {t}.deleted > {g})"


def live(table: str, generation: str = ":g") -> str:
    """SQL condition: a row of `table` (alias) is visible to a reader of `generation`."""
    return LIVE.format(t=table, g=generation)


@dataclass(frozen=True)
class SegmentRow:
    """One immutable vector file of the store."""

    id: int
    file: str
    role: str
    kind: str
    vectors: int
    bytes: int
    crc32: int
    created: int


@dataclass(frozen=True)
class SourceRow:
    """A corpus file as last seen by the indexer."""

    name: str
    size: int
    mtime_ns: int
    skipped: str | None


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, foreign keys on."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # a commit survives power loss, not only a crash
        _common_pragmas(conn)
    except sqlite3.DatabaseError as exc:
        if disk.is_damaged(exc):
            raise _damaged(path, exc) from None
        raise
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing, for reading on a full disk or from a read-only folder: read-only,
    or, where SQLite cannot even keep its shared-memory file there, immutable (the WAL is not read then:
    what it holds beyond the last checkpoint is not seen)."""
    last: sqlite3.DatabaseError | None = None
    for mode in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(f"file:{path}?{mode}", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=30)
            _common_pragmas(conn)
            conn.execute("SELECT count(*) FROM state").fetchone()
            return conn
        except sqlite3.DatabaseError as exc:
            if disk.is_damaged(exc):
                raise _damaged(path, exc) from None
            last = exc
    raise StoreError(f"the index database {path} cannot be opened even read-only ({last})")


def _common_pragmas(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA temp_store = MEMORY")  # the keyword search's temporary tables need no disk
    conn.execute("PRAGMA foreign_keys = ON")


def _damaged(path: Path, exc: BaseException) -> IndexDamaged:
    return IndexDamaged(f"the index database {path} is damaged ({exc}); `qa index` moves it aside and "
                        f"rebuilds it from the corpus")


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks, each atomically with its version; returns the format."""
    try:
        version = user_version(conn)
    except sqlite3.DatabaseError as exc:
        if disk.is_damaged(exc):
            raise IndexDamaged(f"the index database is damaged ({exc}); `qa index` moves it aside and "
                               f"rebuilds it from the corpus") from None
        raise
    if version > FORMAT:
        raise StoreError(f"the index was written by a newer qa (store format {version}, this one reads "
                         f"{FORMAT}); upgrade qa or rebuild with `qa index --rebuild`")
    for n in range(version, FORMAT):
        if user_version(conn) > n:  # applied by another connection since (a writer creating the database)
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # a writer holds the database: it migrated it first, if it is ours
            if user_version(conn) > n:
                continue
            raise StoreError("the index database is locked by a writer that has not set it up; try again") from None
        try:
            if user_version(conn) == n:  # another process may have applied it while we waited
                for statement in _statements(MIGRATIONS[n]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {n + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return FORMAT


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit on its own)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out
