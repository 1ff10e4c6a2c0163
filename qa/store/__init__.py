"""The index store: SQLite (WAL) as the source of truth for sources, articles, passages, keywords and
state, plus immutable FAISS vector segments; readers get consistent snapshots, one writer commits."""

from qa.store.compaction import MergePolicy
from qa.store.schema import ArticleRow, SegmentRow, SourceRow
from qa.store.snapshot import Snapshot
from qa.store.store import Store, Writer

__all__ = ["Store", "Writer", "Snapshot", "MergePolicy", "ArticleRow", "SegmentRow", "SourceRow"]
