"""The corpus editor: every change to the corpus folder (add files, add text, delete, restore, purge) in one
place, for every front-end, with who may make it (an editor) and how much at once (upload limits).

Nothing is deleted for good except by `purge`: a deleted file, and the old version of a file replaced by an
upload or a restore, moves to the trash, a hidden folder inside the corpus folder (`corpus/.trash/`). It is
hidden, so the indexer (which leaves hidden files and folders out) never sees it; it sits on the same file system, so moving in and out is one atomic rename; and it stays with the
corpus it came from, so deleting or rebuilding the index never takes the trash with it.

Every change is appended to an audit log (`audit.jsonl` in the index folder): time, editor, action, file.
After a change the editor calls `on_change(files)` with the changed file names (e.g. indexing just
those: `lambda files: pipeline.build_index(files=files)`) so the index follows at once.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import secrets
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator, Sequence

from qa import disk
from qa.config import Settings
from qa.errors import ArticleError, Busy, NotAllowed, UsageError
from qa.ingest.files import SUFFIXES, check_upload_name, read_articles, slugify
from qa.rates import RateLimiter
from qa.records import Article

TRASH_DIR = ".trash"
AUDIT_LOG = "audit.jsonl"
INFO = "info.json"  # inside each trash item: original name, when, by whom, why


@dataclass(frozen=True)
class TrashItem:
    """One file version in the trash; `id` names its folder there."""

    id: str
    name: str
    deleted_at: datetime
    editor: str
    reason: str  # "deleted", "replaced by an upload", "replaced by a restore"
    path: Path  # the file itself, inside the trash


@dataclass
class Change:
    """What one corpus change did: files changed, articles added, versions trashed, uploads refused."""

    action: str
    files: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    trashed: list[TrashItem] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    index: Any = None  # what on_change returned (the index build report), None when nothing was re-indexed


NOT_AN_EDITOR = "Only editors can change the articles."


class CorpusEditor:
    """Adds, deletes, restores and purges article files of one corpus folder, for every front-end. Each
    action names its editor (None: the caller is not one, and is refused); additions are limited to
    `files_per_request` files at once and `uploads_per_minute` files a minute per editor."""

    def __init__(self, corpus_dir: Path, audit_log: Path, max_bytes: int,
                 on_change: Callable[[list[str]], Any] | None = None, files_per_request: int = 20,
                 uploads_per_minute: int = 60) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.trash_dir = self.corpus_dir / TRASH_DIR
        self.audit_log = Path(audit_log)
        self.max_bytes = max_bytes
        self.on_change = on_change
        self.files_per_request = files_per_request
        self.uploads = RateLimiter(uploads_per_minute)
        self._lock = threading.Lock()  # threads of this process; the file lock covers other processes

    @classmethod
    def from_settings(cls, settings: Settings, on_change: Callable[[list[str]], Any] | None = None) -> CorpusEditor:
        return cls(settings.corpus_dir, settings.index_dir / AUDIT_LOG, settings.max_article_bytes, on_change,
                   settings.upload_files_per_request, settings.uploads_per_minute)

    # --- actions -------------------------------------------------------------------------------------

    def add_files(self, files: Sequence[tuple[str, bytes]], editor: str | None) -> Change:
        """Add uploaded files (name, content). Each is checked completely (name, type, size, content) before
        anything is written; a refused one is reported and the rest go on. A file with the name of an
        existing one replaces it, and the old version goes to the trash."""
        editor = self.editor_name(editor)
        if not files:
            raise ArticleError("Choose one or more files first.")
        self._within_limits(editor, len(files))
        return self._changed(self._add(Change("add"), files, editor))

    def add_text(self, title: str, text: str, editor: str | None, url: str | None = None,
                 date: str | None = None) -> Change:
        """Save pasted text as a new article: a .txt file, or .json when it has a URL or date. It never
        replaces an existing file: a taken name gets a number."""
        editor = self.editor_name(editor)
        self._within_limits(editor, 1)
        url = (url or "").strip() or None
        title = " ".join((title or "").split())
        if not title:
            raise ArticleError("give the article a title")
        if not (text or "").strip():
            raise ArticleError("the article text is empty")
        suffix = ".json" if url or date else ".txt"
        if url or date:
            data = json.dumps({"title": title, "text": text.strip(), "url": url or None, "date": date or None},
                              ensure_ascii=False).encode()
        else:
            data = f"{title}\n\n{text.strip()}\n".encode()
        staged, articles = self._stage(f"{slugify(title)}{suffix}", data)
        with self._locked():
            name = self._free_name(slugify(title), suffix)
            self._commit(staged, name, editor, replace=False)
        return self._changed(Change("add", files=[name], titles=[a.title for a in articles]))

    def add_fetched(self, files: Sequence[tuple[str, bytes]], source: str) -> Change:
        """Save articles fetched from the web (qa.feeds) under their names, recorded in the audit log as
        the work of `source` ("feed https://...", or the editor who asked for a URL). No upload limits: the
        fetcher's own limits (size, per-host delay, items per update) bound it. A name already taken is
        replaced, its old version going to the trash, as an upload would."""
        return self._changed(self._add(Change("fetch"), files, source))

    def delete(self, name: str, editor: str | None) -> Change:
        """Move one article file (by its name in the corpus folder) to the trash."""
        editor = self.editor_name(editor)
        check_upload_name(name)
        with self._locked():
            target = self.corpus_dir / name
            if not target.exists() and not target.is_symlink():
                raise ArticleError(f"no article file named {name!r} in {self.corpus_dir}")
            item = self._to_trash(target, editor, "deleted")
            self._audit("delete", name, editor, trash=item.id)
        return self._changed(Change("delete", files=[name], trashed=[item]))

    def restore(self, ref: str, editor: str | None) -> Change:
        """Bring a file back from the trash: `ref` is a trash item id, or a file name (its newest version).
        A file of that name in the corpus now goes to the trash in its place."""
        editor = self.editor_name(editor)
        with self._locked():
            item = self._find(ref)
            target = self.corpus_dir / item.name
            target.parent.mkdir(parents=True, exist_ok=True)
            old = None
            if target.exists() or target.is_symlink():
                old = self._to_trash(target, editor, "replaced by a restore")
            os.rename(item.path, target)
            shutil.rmtree(item.path.parent)
            self._audit("restore", item.name, editor, trash=item.id)
        titles = [a.title for a in _read_quietly(target, self.max_bytes)]
        return self._changed(Change("restore", files=[item.name], titles=titles, trashed=[old] if old else []))

    def purge(self, editor: str | None, older_than_days: float | None = None) -> Change:
        """Delete trashed files for good: all of them, or those trashed more than `older_than_days` ago."""
        editor = self.editor_name(editor)
        if older_than_days is not None and older_than_days < 0:
            raise UsageError(f"--older-than must be 0 days or more, not {older_than_days:g}")
        cutoff = None if older_than_days is None else _now() - timedelta(days=older_than_days)
        change = Change("purge")
        with self._locked():
            for item in self.trash():
                if cutoff is None or item.deleted_at <= cutoff:
                    shutil.rmtree(item.path.parent)
                    self._audit("purge", item.name, editor, trash=item.id)
                    change.files.append(item.name)
                    change.trashed.append(item)
            self._drop_broken_items()
        return change  # the trash is not indexed: nothing to re-index

    # --- reading -------------------------------------------------------------------------------------

    def trash(self) -> list[TrashItem]:
        """The trash, newest first (an item whose file is missing, from a crash mid-move, is left out)."""
        items = []
        if not self.trash_dir.is_dir():
            return items
        for folder in self.trash_dir.iterdir():
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            try:
                info = json.loads((folder / INFO).read_text(encoding="utf-8"))
                item = TrashItem(folder.name, info["name"], datetime.fromisoformat(info["deleted_at"]),
                                 info["editor"], info["reason"], folder / PurePosixPath(info["name"]).name)
            except (OSError, ValueError, KeyError):
                continue
            if item.path.exists() or item.path.is_symlink():
                items.append(item)
        return sorted(items, key=lambda i: (i.deleted_at, i.id), reverse=True)

    def audit(self) -> list[dict[str, Any]]:
        """The audit log's records, oldest first."""
        if not self.audit_log.exists():
            return []
        with open(self.audit_log, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    # --- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def editor_name(editor: str | None) -> str:
        """The editor's name, or NotAllowed when the caller is not one (None or empty)."""
        if not editor:
            raise NotAllowed(NOT_AN_EDITOR)
        return editor

    def _within_limits(self, editor: str, files: int) -> None:
        """Refuse adding `files` files now: more than `files_per_request` at once (ArticleError), or over
        `uploads_per_minute` for this editor (Busy)."""
        if files > self.files_per_request:
            raise ArticleError(f"Not added: {files} files in one upload; the limit is {self.files_per_request}.")
        wait = self.uploads.take(editor, files)
        if wait:
            raise Busy(f"Busy: more than {self.uploads.limit} files a minute; try again in {math.ceil(wait)} s.",
                       math.ceil(wait))

    def _add(self, change: Change, files: Sequence[tuple[str, bytes]], who: str) -> Change:
        """Stage, check and move each file into place (replacing, the old version to the trash)."""
        for name, data in files:
            try:
                staged, articles = self._stage(name, data)
            except ArticleError as exc:
                change.refused.append(str(exc))
                continue
            with self._locked():
                old = self._commit(staged, name, who, replace=True)
            change.files.append(name)
            change.titles += [a.title for a in articles]
            change.trashed += [old] if old else []
        return change

    def _changed(self, change: Change) -> Change:
        if change.files and self.on_change is not None:
            change.index = self.on_change(change.files)
        return change

    def _stage(self, name: str, data: bytes) -> tuple[Path, list[Article]]:
        """Write the content to a hidden file in the corpus folder and parse it; raise ArticleError (and
        leave nothing behind) when the name or content is refused."""
        check_upload_name(name)
        staged = self.corpus_dir / f".upload-{secrets.token_hex(8)}{Path(name).suffix}"
        try:
            self.corpus_dir.mkdir(parents=True, exist_ok=True)
            staged.write_bytes(data)
            return staged, read_articles(staged, self.max_bytes)
        except ArticleError as exc:
            staged.unlink(missing_ok=True)
            raise ArticleError(f"refused {name!r}: {exc}") from None
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise disk.translated(exc, self.corpus_dir, f"saving {name!r}", needed=len(data),
                                  after="; nothing was added") from None
        except BaseException:
            staged.unlink(missing_ok=True)
            raise

    def _commit(self, staged: Path, name: str, editor: str, replace: bool) -> TrashItem | None:
        """Move a staged file into place (the caller holds the lock); an existing file of that name goes
        to the trash first when `replace`."""
        target = self.corpus_dir / name
        old = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)  # a name may hold sub-folders
            if target.exists() or target.is_symlink():
                if not replace:
                    raise ArticleError(f"an article file named {name!r} already exists")
                old = self._to_trash(target, editor, "replaced by an upload")
            os.rename(staged, target)
        finally:
            staged.unlink(missing_ok=True)
        self._audit("replace" if old else "add", name, editor, **({"trash": old.id} if old else {}))
        return old

    def _free_name(self, stem: str, suffix: str) -> str:
        n = 1
        while any((self.corpus_dir / f"{stem}{'' if n == 1 else f'-{n}'}{s}").exists() for s in SUFFIXES):
            n += 1
        return f"{stem}{'' if n == 1 else f'-{n}'}{suffix}"

    def _to_trash(self, path: Path, editor: str, reason: str) -> TrashItem:
        """Move one corpus file into a new trash item (its record is written first, so a crash in between
        leaves an empty item, never a lost file)."""
        now = _now()
        item_id = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(3)}"
        folder = self.trash_dir / item_id
        name = path.relative_to(self.corpus_dir).as_posix()  # a sub-folder's file comes back there
        info = {"name": name, "deleted_at": now.isoformat(), "editor": editor, "reason": reason}
        try:
            folder.mkdir(parents=True)
            (folder / INFO).write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
        except OSError as exc:  # the file itself has not moved: nothing is lost, the half item goes
            shutil.rmtree(folder, ignore_errors=True)
            raise disk.translated(exc, self.trash_dir, f"moving {path.name} to the trash",
                                  after=f"; {path.name} is still in the corpus") from None
        os.rename(path, folder / path.name)  # one rename on the same file system: no space needed
        return TrashItem(item_id, name, now, editor, reason, folder / path.name)

    def _find(self, ref: str) -> TrashItem:
        items = self.trash()
        for item in items:
            if ref in (item.id, item.name):  # newest first: a name finds its latest version
                return item
        names = ", ".join(sorted({i.name for i in items})) or "the trash is empty"
        raise ArticleError(f"nothing named {ref!r} in the trash ({names})")

    def _drop_broken_items(self) -> None:
        """Remove trash folders left without their file by a crash mid-move (nothing in them to keep)."""
        for folder in self.trash_dir.iterdir() if self.trash_dir.is_dir() else ():
            if not folder.name.startswith(".") and folder.is_dir() and all(f.name == INFO for f in folder.iterdir()):
                shutil.rmtree(folder)

    def _audit(self, action: str, name: str, editor: str, **detail: str) -> None:
        record = {"time": _now().isoformat(timespec="seconds"), "editor": editor, "action": action, "file": name,
                  **detail}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.audit_log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.audit_log, "ab", buffering=0) as fh:
                size = fh.seek(0, os.SEEK_END)
                try:
                    if fh.write(line) != len(line):
                        raise OSError(errno.ENOSPC, "short write")
                    os.fsync(fh.fileno())
                except OSError:
                    fh.truncate(size)  # never half a record in the log
                    raise
        except OSError as exc:
            raise disk.translated(exc, self.audit_log.parent, "writing the audit log", needed=len(line),
                                  after=f"; the {action} of {name} was made but is not in {self.audit_log}") from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One change at a time, across threads and processes (the server and `qa restore`)."""
        with self._lock:
            self.trash_dir.mkdir(parents=True, exist_ok=True)
            with open(self.trash_dir / ".lock", "a+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)


def _read_quietly(path: Path, max_bytes: int) -> list[Article]:
    """The articles of a restored file, for the message; a file the indexer will skip shows none."""
    try:
        return read_articles(path, max_bytes)
    except (ArticleError, OSError):
        return []


def _now() -> datetime:
    return datetime.now(timezone.utc)
