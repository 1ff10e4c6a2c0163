"""The index store: one SQLite database (WAL) as the source of truth for files, articles, passages,
keywords and state, plus immutable FAISS vector segments; readers get consistent snapshots (snapshot),
one writer at a time commits generations (writer), merges follow a policy (compaction)."""

from qa.store.compaction import MergePolicy
from qa.store.folder import Store
from qa.store.schema import ArticleRow, SegmentRow, SourceRow
from qa.store.snapshot import Snapshot
from qa.store.writer import Writer

__all__ = ["Store", "Writer", "Snapshot", "MergePolicy", "ArticleRow", "SegmentRow", "SourceRow"]
