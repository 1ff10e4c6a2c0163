"""The pure half of a build (no I/O, no models): which files to read, whether the whole index must be
rebuilt, and what becomes of each article read (new, changed, unchanged, or refused as a duplicate).
The indexer looks up what the store holds, asks these functions, and acts on the answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qa.store.schema import SourceRow

CHUNKER_VERSION = 1


@dataclass(frozen=True)
class BuildPlan:
    """Which files to read (new, or changed by size or mtime) and which are gone."""

    read: tuple[str, ...]
    gone: tuple[str, ...]
    unchanged: tuple[str, ...]


def plan_build(known: dict[str, SourceRow], stats: dict[str, list[int]], only: set[str] | None = None) -> BuildPlan:
    """Compare the files as they are (`stats`: name -> [size, mtime_ns]) with what the store saw; with
    `only`, look at those names alone (and read again any of them that was skipped)."""
    names = set(stats) | set(known) if only is None else set(only)
    read, gone, same = [], [], []
    for name in sorted(names):
        now, before = stats.get(name), known.get(name)
        if now is None:
            if before is not None:
                gone.append(name)
        elif before is None or [before.size, before.mtime_ns] != list(now) or (only and before.skipped):
            read.append(name)  # a named file not (wholly) indexed is read again: its original may have moved
        else:
            same.append(name)
    return BuildPlan(tuple(read), tuple(gone), tuple(same))


@dataclass(frozen=True)
class Fingerprint:
    """What the store records about embedding and chunking: a change to any of it means every passage
    must be split and embedded again."""

    embedding_model: str
    tokenizer: str  # a hash of the chunking tokenizer's vocabulary
    max_tokens: int
    overlap: int
    chunker_version: int = CHUNKER_VERSION

    def to_state(self) -> dict[str, Any]:
        """The form kept in the store's state (unchanged since the store's first format)."""
        return {"embedding_model": self.embedding_model,
                "chunking": {"version": self.chunker_version, "tokenizer": self.tokenizer,
                             "max_tokens": self.max_tokens, "overlap": self.overlap}}

    def change_from(self, old: dict[str, Any]) -> str | None:
        """Why an index built with `old` (its stored form) must be rebuilt for this one; None: it need not."""
        new = self.to_state()
        if old.get("embedding_model") != new["embedding_model"]:
            return f"embedding model changed from {old.get('embedding_model')!r} to {new['embedding_model']!r}"
        if old.get("chunking") != new["chunking"]:
            return f"chunking settings changed from {old.get('chunking')} to {new['chunking']}"
        return None


@dataclass(frozen=True)
class Held:
    """What the store and this build already hold that one article read from a file can clash with."""

    id_owner: str | None  # the file whose live article has this id
    text_owner: str | None  # the file whose live article has the same text
    old_hash: str | None  # the content hash of this file's own article of this id, if it had one


@dataclass(frozen=True)
class Decision:
    """What to do with one article read from a file."""

    action: str  # "new", "changed", "unchanged" or "duplicate"
    reason: str = ""  # for a duplicate: why it is refused
    original: str | None = None  # for a duplicate: the file holding the original
    retry: bool = False  # for a duplicate of a file read again in this build: try once that one is done


def decide(name: str, article_id: str, content_hash: str, held: Held, claimed_here: bool,
           text_claimed_here: bool, rereading: set[str]) -> Decision:
    """The fate of article `article_id` of file `name`. `held` says who owns its id and its text (in the
    store, or claimed earlier in this build); `claimed_here`/`text_claimed_here`: the claim was made in this
    build (then even this same file holding it twice is a clash). A clash with a file that is being read
    again in this build is retried once that file is done: the text may have moved between files."""
    if held.id_owner is not None and (held.id_owner != name or claimed_here):
        return Decision("duplicate", f"article id {article_id!r} already used by {held.id_owner}", held.id_owner,
                        held.id_owner in rereading and held.id_owner != name)
    if held.text_owner is not None and (held.text_owner != name or text_claimed_here):
        return Decision("duplicate", f"same text as {held.text_owner}", held.text_owner,
                        held.text_owner in rereading and held.text_owner != name)
    if held.old_hash is None:
        return Decision("new")
    return Decision("unchanged" if held.old_hash == content_hash else "changed")
