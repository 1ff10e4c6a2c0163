"""The v0.1 index format (manifest.json, vectors.*.faiss, passages.*.jsonl in the index folder): the one
migration SQL cannot do, since v0.1 kept no passages the new store could take over. A folder in that format
is rebuilt from the corpus into a new store (the corpus is untouched), and the old files are removed once
the new store is committed."""

from __future__ import annotations

from pathlib import Path

MARKER = "manifest.json"
FILES = (MARKER, "vectors.*.faiss", "passages.*.jsonl", "*.tmp")


def upgrade_reason(folder: Path) -> str | None:
    """Why the index in `folder` must be rebuilt from the corpus, when it is in the v0.1 format."""
    if (folder / MARKER).exists():
        return f"the index is in the v0.1 format ({MARKER}); it is rebuilt in the new store (corpus/ is untouched)"
    return None


def remove_files(folder: Path) -> None:
    """Delete the v0.1 index files (after the new store's commit)."""
    for pattern in FILES:
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)
