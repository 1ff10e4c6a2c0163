"""The indexer's bookkeeping of the corpus folder's files, kept in the store so that it commits with the
articles: each file as last seen (size, mtime, why it was skipped), the files refused as duplicates of
another's articles (read again when that one changes), and the files a stopped build left to read again.
Reached through a writer, inside its transaction: `with store.writer() as w: w.files.record(...)`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Iterable

from qa.store.schema import SourceRow

if TYPE_CHECKING:
    from qa.store.writer import Writer


class FileLog:
    """The corpus files a writer's transaction knows of."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def seen(self, names: Iterable[str] | None = None) -> dict[str, SourceRow]:
        """Every file seen, or the named ones (a targeted build reads a handful of rows, not one
        per file in the archive)."""
        query = "SELECT name, size, mtime_ns, skipped FROM sources"
        if names is None:
            return {r[0]: SourceRow(*r) for r in self.writer.conn.execute(query)}
        rows = (self.writer.conn.execute(query + " WHERE name = ?", (name,)).fetchone() for name in names)
        return {r[0]: SourceRow(*r) for r in rows if r}

    def skipped_count(self) -> int:
        """Files not (wholly) indexed, as of this transaction."""
        return self.writer.conn.execute("SELECT count(*) FROM sources WHERE skipped IS NOT NULL").fetchone()[0]

    def record(self, name: str, size: int, mtime_ns: int, skipped: str | None = None,
                   originals: Iterable[str] = ()) -> None:
        """Record a file as seen, with the files holding the originals of the articles it duplicates
        (an unchanged record leaves the transaction clean)."""
        row = self.writer.conn.execute("SELECT size, mtime_ns, skipped FROM sources WHERE name = ?", (name,)).fetchone()
        if row == (size, mtime_ns, skipped) and self._originals(name) == set(originals):
            return
        self.writer.conn.execute("INSERT INTO sources VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                          "size = excluded.size, mtime_ns = excluded.mtime_ns, skipped = excluded.skipped",
                          (name, size, mtime_ns, skipped))
        self.writer.conn.execute("DELETE FROM duplicates WHERE name = ?", (name,))
        self.writer.conn.executemany("INSERT INTO duplicates VALUES (?, ?)", [(name, o) for o in sorted(set(originals))])
        self.writer.dirty = True

    def _originals(self, name: str) -> set[str]:
        return {r[0] for r in self.writer.conn.execute("SELECT original FROM duplicates WHERE name = ?", (name,))}

    def duplicates_of(self, names: Iterable[str]) -> set[str]:
        """The files refused as duplicates of articles in these files."""
        rows = self.writer.conn.execute("SELECT DISTINCT name FROM duplicates WHERE original IN "
                                 "(SELECT value FROM json_each(?))", (json.dumps(list(names)),))
        return {r[0] for r in rows}

    def unread(self) -> list[str]:
        """Files a stopped build left to read again (see mark_unread)."""
        return [r[0] for r in self.writer.conn.execute("SELECT name FROM sources WHERE mtime_ns < 0")]

    def mark_unread(self, names: Iterable[str]) -> None:
        """Make the next build read these files whatever their stats (they are read in this one; if it
        stops before their batch commits, they must not look done)."""
        self.writer.conn.execute("UPDATE sources SET mtime_ns = -1 WHERE name IN (SELECT value FROM json_each(?))",
                          (json.dumps(list(names)),))
        self.writer.dirty = True

    def forget(self, name: str) -> list[str]:
        """Forget a file and delete its articles; returns their ids."""
        gone = [a.id for a in self.writer.articles_of(name)]
        for aid in gone:
            self.writer.delete_article(aid)
        self.writer.conn.execute("DELETE FROM sources WHERE name = ?", (name,))
        self.writer.conn.execute("DELETE FROM duplicates WHERE name = ?", (name,))
        self.writer.dirty = True
        return gone
