"""Bring the store in line with the corpus folder: plan what changed and decide each article (pure, in
qa.indexing.plan), read and chunk what is new, embed it, commit it in batches. Only new or changed files
are read; only new or changed articles embedded.

A file that cannot be read, split or embedded is skipped with its name and reason; the rest is indexed.
Each batch commits its articles, passages, vectors and file stats together, so a crash loses at most
the batch in flight and a rerun picks it up. A full rebuild runs in one transaction: readers keep the
old index until the new one is complete.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from qa.config import VECTOR_STORAGE, Settings
from qa.errors import ArticleError, IndexDamaged, NotFoundError, SettingsError
from qa.indexing.plan import BuildPlan, Fingerprint, Held, decide, plan_build
from qa.ingest.chunking import Chunker
from qa.ingest.copies import signature
from qa.ingest.bylines import TEXT_READER
from qa.ingest.files import (HTML_SUFFIXES, JSON_SUFFIXES, TEXT_SUFFIXES, Skipped, article_id_of, content_hash,
                             file_stats, read_source, text_digest)
from qa.ingest.pages import PAGE_READER
from qa.records import Article, Passage
from qa.retrieval.embedding import TextEncoder
from qa.store import MergePolicy, Store, Writer
from qa.store.compaction import compact as compact_store
from qa.store.schema import ArticleRow
from qa.store.segments import damaged_segments, describe_segments


# Each kind of file's reader, by the state key that records its version: an index built with another
# version reads those files again.
READERS = (("page_reader", PAGE_READER, HTML_SUFFIXES, "saved web page(s)"),
           ("text_reader", TEXT_READER, TEXT_SUFFIXES | JSON_SUFFIXES, "text and JSON file(s)"))


@dataclass
class BuildReport:
    """What a build did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)  # files read in this build and not (wholly) indexed
    not_indexed: int = 0  # files not (wholly) indexed in all, these and earlier ones left as they were
    passages_embedded: int = 0
    copies: dict[str, str] = field(default_factory=dict)  # article -> the story it is a wire copy of
    passages_reused: int = 0  # passages of a moved article, or one whose metadata alone changed: not embedded
    passages_total: int = 0
    articles_total: int = 0
    index_type: str = ""
    generation: int = 0
    commits: int = 0
    merges: list[str] = field(default_factory=list)
    full_rebuild: str | None = None  # why the whole corpus was re-embedded, if it was
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.articles_total} articles, {self.passages_total} passages ({self.index_type})",
                 f"added {len(self.added)}, changed {len(self.changed)}, removed {len(self.removed)}, "
                 f"unchanged {self.unchanged}",
                 f"embedded {self.passages_embedded} passages in {self.seconds:.1f}s"]
        if self.copies:
            parts.append(f"{len(self.copies)} wire cop{'y' if len(self.copies) == 1 else 'ies'} of other stories")
        if self.passages_reused:
            parts.append(f"{self.passages_reused} passages kept their vectors (moved, or metadata changed)")
        if self.skipped:
            parts.append(f"skipped {len(self.skipped)} file(s)")
        if self.not_indexed > len(self.skipped):
            parts.append(f"{self.not_indexed} file(s) not indexed in all")
        if self.full_rebuild:
            parts.insert(0, f"full rebuild: {self.full_rebuild}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReadFile:
    """A file read and split into passages ahead of the build (on a cluster): its articles, each with
    its passages (ids not yet given; None: not split, the build splits it), or why it cannot be read."""

    articles: list[tuple[Article, list[Passage] | None]] = field(default_factory=list)
    error: str | None = None


ReadAhead = Callable[[Path, list[str]], dict[str, ReadFile]]


@dataclass
class FileWork:
    """One file read: its articles to embed (and whether each replaces an older version)."""

    name: str
    size: int
    mtime_ns: int
    articles: list[tuple[Article, bool]] = field(default_factory=list)
    skipped: str | None = None
    originals: set[str] = field(default_factory=set)  # files holding articles this one duplicates
    retry: bool = False  # refused as a duplicate of a file that is read again in the same build
    passages: dict[str, list[Passage]] = field(default_factory=dict)  # split ahead, by article id

    def indexed(self) -> FileWork:
        """This file once its articles are in the store: its texts and passages are let go."""
        self.articles, self.passages = [], {}
        return self

    @property
    def recorded_mtime(self) -> int:
        """The mtime to record: none (-1, read again next build) while a retry is pending, so that a
        build stopped before the retry does not leave the file looking done."""
        return -1 if self.retry else self.mtime_ns


class Indexer:
    """Indexes the corpus folder into the store, embedding only what is new or changed."""

    def __init__(self, corpus_dir: Path, store: Store, chunker: Chunker, embedder: TextEncoder, embedding_model: str,
                 policy: MergePolicy | None = None, max_article_bytes: int = 10_000_000,
                 batch_passages: int = 2048, log: Callable[[str], None] = print,
                 read_ahead: ReadAhead | None = None, wave_files: int = 1000, shards: int = 0,
                 vectors: str = "") -> None:
        """`read_ahead`, when given, reads and splits the files to index elsewhere (see qa.cluster);
        the decisions and the commits stay here. Files are read and indexed `wave_files` at a time, so
        that a build holds the text of one wave, not of the whole archive. `shards` > 0 writes the base
        in that many parts from now on (recorded in the store); 0 keeps what the store has (1 when new).
        `vectors` ("float32" or "sq8") is how an IVF base stores its vectors from now on (recorded in the
        store); "" keeps what the store has (float32 when new)."""
        if shards < 0:
            raise SettingsError(f"the number of shards must be 1 or more (or 0: keep what the store has), not {shards}")
        if vectors and vectors not in VECTOR_STORAGE:
            raise SettingsError(f"unknown vector storage {vectors!r}: use one of {', '.join(VECTOR_STORAGE)}")
        self.corpus_dir = Path(corpus_dir)
        self.store = store
        self.chunker = chunker
        self.embedder = embedder
        self.embedding_model = embedding_model
        self.policy = policy or MergePolicy()
        self.max_article_bytes = max_article_bytes
        self.batch_passages = batch_passages
        self.log = log
        self.read_ahead = read_ahead
        self.wave_files = wave_files
        self.shards = shards
        self.vectors = vectors

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, embedder: TextEncoder, tokenizer: Any,
                      log: Callable[[str], None] = print) -> Indexer:
        """The indexer these settings describe, chunking with `tokenizer` (the reader's)."""
        s = settings
        policy = MergePolicy(flat_max=s.flat_max_passages, max_deltas=s.max_delta_segments,
                             delta_share=s.delta_share, tombstone_share=s.tombstone_share)
        return cls(s.corpus_dir, store, Chunker(tokenizer, s.passage_tokens, s.passage_overlap), embedder,
                   s.embedding_model, policy=policy, max_article_bytes=s.max_article_bytes,
                   batch_passages=s.commit_passages, log=log, shards=s.index_shards, vectors=s.index_vectors)

    @functools.cached_property
    def fingerprint(self) -> Fingerprint:
        """What the store records about embedding and chunking (computed once: hashing the tokenizer's
        vocabulary takes tens of milliseconds)."""
        vocab = self.chunker.tokenizer.get_vocab()
        tokens = hashlib.sha1(json.dumps(sorted(vocab.items())).encode()).hexdigest()[:16]
        return Fingerprint(self.embedding_model, tokens, self.chunker.max_tokens, self.chunker.overlap)

    def run(self, rebuild: bool = False, files: list[str] | None = None, compact: bool = False,
            log: Callable[[str], None] | None = None, damaged: str | None = None) -> BuildReport:
        """Update the store (all files, or only the named ones) under the writers' lock. A damaged index
        (found here, or reported by a reader as `damaged`) is moved aside and rebuilt from the corpus."""
        if not self.corpus_dir.is_dir():
            raise NotFoundError(f"corpus folder not found: {self.corpus_dir}")
        log = log or self.log
        if damaged is None:
            try:
                return self._run(rebuild, files, compact, log)
            except IndexDamaged as exc:
                damaged = str(exc)
        return self._run(True, None, compact, log, set_aside=damaged)

    def _run(self, rebuild: bool, files: list[str] | None, compact: bool, log: Callable[[str], None],
             set_aside: str | None = None) -> BuildReport:
        t0 = time.perf_counter()
        report = BuildReport()
        with self.store.writer(log, set_aside=set_aside) as w:
            report.full_rebuild = self._rebuild_reason(w, rebuild)
            if report.full_rebuild:
                log(f"index will be rebuilt in full: {report.full_rebuild}")
                w.clear()
                files = None
            w.set("settings", json.dumps(self.fingerprint.to_state(), sort_keys=True))
            self._record_layout(w)
            self._reread_files_of_another_reader(w, log)
            plan, stats = self._plan(w, files)
            report.unchanged = self._kept_articles(w, plan)
            self._forget(w, plan.gone, report)
            claimed: dict[str, str] = {}  # article ids and text digests taken in this build -> file
            work, rereading = [], set(plan.read)
            for wave in range(0, len(plan.read), self.wave_files):
                names = list(plan.read[wave : wave + self.wave_files])
                done = self._read_wave(w, names, stats, claimed, rereading, report)
                self._index(w, done, report, log, commit_batches=not report.full_rebuild)
                work += [f.indexed() for f in done]
            self._retry_moved_duplicates(w, work, stats, report, log)
            w.checkpoint()
            report.merges += compact_store(w, self._policy(w, self.policy), compact, log)
            self._describe(w, report)
        self.store.remove_legacy_files()
        report.seconds = time.perf_counter() - t0
        return report

    # --- steps --------------------------------------------------------------------------------------
    def _rebuild_reason(self, w: Writer, requested: bool) -> str | None:
        if w.moved_aside is not None:
            return f"the index was damaged; its files were moved to {w.moved_aside}"
        legacy = self.store.legacy_format()
        if legacy:
            return legacy
        old = w.settings()
        if old is None:
            return None
        damaged = damaged_segments(self.store.segments_dir, w.live_segments())
        if damaged:
            raise IndexDamaged(f"index segment {damaged[0]} is missing or damaged")
        if requested:
            return "requested (--rebuild)"
        return self.fingerprint.change_from(old)

    def _plan(self, w: Writer, files: list[str] | None) -> tuple[BuildPlan, dict[str, list[int]]]:
        """What to read and forget: the changed files (of all, or of the named ones and those a stopped
        build left unread), plus the files refused as duplicates of articles in those (the original may
        be gone or changed now)."""
        only = None if files is None else sorted({self._corpus_name(f) for f in files} | set(w.files.unread()))
        stats = self._stats(only)
        plan = plan_build(w.files.seen(only), stats, None if only is None else set(only))
        waiting = w.files.duplicates_of(plan.read + plan.gone) - set(plan.read) - set(plan.gone)
        if not waiting:
            return plan, stats
        w.files.mark_unread(waiting)
        found = self._stats(sorted(waiting))
        stats.update(found)
        return BuildPlan(tuple(sorted(set(plan.read) | set(found))),
                         tuple(sorted(set(plan.gone) | (waiting - set(found)))),
                         tuple(n for n in plan.unchanged if n not in waiting)), stats

    def _stats(self, files: list[str] | None) -> dict[str, list[int]]:
        """[size, mtime_ns] of every article file, or of the named ones (missing ones left out)."""
        if files is None:
            return file_stats(self.corpus_dir)
        out = {}
        for name in files:
            path = self.corpus_dir / name
            if any(part.startswith(".") for part in Path(name).parts) or not (path.is_file() or path.is_symlink()):
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            out[name] = [st.st_size, st.st_mtime_ns]
        return out

    def _corpus_name(self, file: str) -> str:
        """A file named to a targeted build, as the store knows it: its path in the corpus folder ("a.txt",
        "2022/03/story.html"), whether it was given so, or as a path (absolute or from here) into the folder."""
        path = Path(file)
        for base in (self.corpus_dir.resolve(), self.corpus_dir.absolute()):
            try:
                return path.absolute().relative_to(base).as_posix()
            except ValueError:
                continue
        return PurePosixPath(file).as_posix()

    @staticmethod
    def _kept_articles(w: Writer, plan: BuildPlan) -> int:
        """Articles of files that are not read again (one count, not one query per file)."""
        return w.article_count() - sum(len(w.articles_of(n)) for n in plan.read + plan.gone)

    def _forget(self, w: Writer, gone: tuple[str, ...], report: BuildReport) -> None:
        for name in gone:
            report.removed += w.files.forget(name)

    def _retry_moved_duplicates(self, w: Writer, work: list[FileWork], stats: dict[str, list[int]],
                                report: BuildReport, log: Callable[[str], None]) -> None:
        """Read again the files refused as duplicates of a file that changed in this build: the text
        may have moved (a.txt now holds what b.txt held, and b.txt something else)."""
        retry = [f.name for f in work if f.retry]
        if not retry:
            return
        report.skipped = [s for s in report.skipped if s.path not in retry]
        claimed: dict[str, str] = {}
        again = [self._read(w, name, stats[name], claimed, set(), report) for name in retry]
        self._index(w, again, report, log, commit_batches=False)

    def _read_wave(self, w: Writer, names: list[str], stats: dict[str, list[int]], claimed: dict[str, str],
                   rereading: set[str], report: BuildReport) -> list[FileWork]:
        """Read a wave of files (ahead, elsewhere, when a `read_ahead` is set) and decide their articles."""
        ahead = self.read_ahead(self.corpus_dir, names) if self.read_ahead and names else {}
        return [self._read(w, name, stats[name], claimed, rereading, report, ahead.get(name)) for name in names]

    def _read(self, w: Writer, name: str, stat: list[int], claimed: dict[str, str], rereading: set[str],
              report: BuildReport, ready: ReadFile | None = None) -> FileWork:
        """Read one file (or take it as read ahead) and decide, per article, whether it is new, changed,
        unchanged or a duplicate (of an article already held, or claimed earlier in this build; a clash
        with a file that is being read again in this build marks the file for a retry once that file
        is done)."""
        work = FileWork(name, stat[0], stat[1])
        old = {a.id: a for a in w.articles_of(name)}
        if ready is not None:
            articles, work.skipped = [a for a, _ in ready.articles], ready.error
            work.passages = {a.id: pieces for a, pieces in ready.articles if pieces is not None}
        else:
            try:
                articles = read_source(self.corpus_dir.resolve(), self.corpus_dir / name, self.max_article_bytes,
                                       article_id_of(name))
            except ArticleError as exc:
                work.skipped = str(exc)
                articles = []
        reasons = []
        for article in articles:
            article.path = name
            if article.notice:
                self.log(f"{name}: {article.notice}")
            digest = "text:" + text_digest(article)
            before = old.get(article.id)
            held = Held(claimed.get(article.id) or w.article_source(article.id),
                        claimed.get(digest) or w.digest_source(digest[5:]), before.hash if before else None)
            decision = decide(name, article.id, content_hash(article), held, article.id in claimed,
                              digest in claimed, rereading)
            if decision.action == "duplicate":
                reasons.append(decision.reason)
                work.originals.add(decision.original)
                work.retry |= decision.retry
                continue
            claimed[article.id] = claimed[digest] = name
            old.pop(article.id, None)
            if decision.action == "unchanged":
                report.unchanged += 1
                continue
            work.articles.append((article, decision.action == "changed"))
            (report.changed if decision.action == "changed" else report.added).append(article.id)
        for stale in old:  # articles no longer in the file (or the whole file when it became unreadable)
            w.delete_article(stale)
            report.removed.append(stale)
        if reasons and not work.skipped:
            work.skipped = "; ".join(reasons)
        if work.skipped:
            report.skipped.append(Skipped(name, work.skipped))
            self.log(f"skipped {name}: {work.skipped}")
        if not work.articles:
            w.files.record(name, work.size, work.recorded_mtime, work.skipped, work.originals)
        return work

    def _index(self, w: Writer, work: list[FileWork], report: BuildReport, log: Callable[[str], None],
               commit_batches: bool) -> None:
        """Chunk, embed and add the files' articles in batches of about `batch_passages` passages."""
        pending = [f for f in work if f.articles]
        total = sum(len(f.articles) for f in pending)
        if total:
            log(f"embedding {total} article(s) from {len(pending)} file(s)")
        batch: list[tuple[FileWork, list[tuple[Article, bool, list[Passage]]]]] = []
        size = done = 0
        for f in pending:
            chunks = self._chunk(w, f, report)
            if chunks is None:
                continue
            batch.append((f, chunks))
            size += sum(len(p) for _, _, p in chunks)
            if size >= self.batch_passages:
                self._add_batch(w, batch, report)
                if commit_batches:
                    w.checkpoint()
                done += sum(len(c) for _, c in batch)
                log(f"indexed {done} of {total} article(s), {report.passages_embedded} passages "
                    f"({report.passages_embedded / max(report.embed_seconds, 1e-9):.0f} passages/s embedding)")
                batch, size = [], 0
        if batch:
            self._add_batch(w, batch, report)

    def _chunk(self, w: Writer, f: FileWork, report: BuildReport) -> list[tuple[Article, bool, list[Passage]]] | None:
        out = []
        for article, replaces in f.articles:
            try:
                pieces = f.passages[article.id] if article.id in f.passages else self.chunker.split(article)
            except Exception as exc:  # noqa: BLE001 - a tokenizer failure must not stop the others
                self._skip_file(w, f, f"cannot be split into passages ({type(exc).__name__}: {exc})", report)
                return None
            first = w.allocate_ids(len(pieces))
            for i, p in enumerate(pieces):
                p.id = first + i
            out.append((article, replaces, pieces))
        return out

    def _skip_file(self, w: Writer, f: FileWork, reason: str, report: BuildReport) -> None:
        for article, replaces in f.articles:
            (report.changed if replaces else report.added).remove(article.id)
            if replaces:
                w.delete_article(article.id)
                report.removed.append(article.id)
        report.skipped.append(Skipped(f.name, reason))
        self.log(f"skipped {f.name}: {reason}")
        w.files.record(f.name, f.size, f.recorded_mtime, reason, f.originals)

    def _add_batch(self, w: Writer, batch: list[tuple[FileWork, list[tuple[Article, bool, list[Passage]]]]],
                   report: BuildReport) -> None:
        """Embed a batch (file by file if the batch fails, to find the bad one) and add it. The articles it
        replaces go first, so that a passage they share with their new version keeps its vector."""
        for _, chunks in batch:
            for article, replaces, _ in chunks:
                if replaces:
                    w.delete_article(article.id)
        te = time.perf_counter()
        try:
            vectors = self._vectors(w, [p for _, c in batch for _, _, ps in c for p in ps], report)
            groups = batch
        except Exception:  # noqa: BLE001 - find the file that breaks the embedder, keep the rest
            groups, parts, failed = [], [], []
            for f, c in batch:
                try:
                    parts.append(self._vectors(w, [p for _, _, ps in c for p in ps], report))
                    groups.append((f, c))
                except Exception as exc:  # noqa: BLE001
                    failed.append((f, exc))
            if not groups and not self._embedder_works():  # the embedder is broken, not the files
                raise failed[-1][1]
            for f, exc in failed:
                self._skip_file(w, f, f"cannot be embedded ({type(exc).__name__}: {exc})", report)
            vectors = np.concatenate(parts) if parts else np.zeros((0, self.embedder.dim), np.float32)
        report.embed_seconds += time.perf_counter() - te
        rows, passages = [], []
        for f, chunks in groups:
            for article, replaces, pieces in chunks:
                story = w.story_of(article.id, signature(article.text))
                if story is not None:
                    report.copies[article.id] = story
                rows.append((ArticleRow(article.id, f.name, article.title, article.url, article.date,
                                        content_hash(article), author=article.author, updated=article.updated,
                                        site=article.site, language=article.language,
                                        dateline=article.dateline, story=story), text_digest(article)))
                passages.extend(pieces)
            w.files.record(f.name, f.size, f.recorded_mtime, f.skipped, f.originals)
        w.add_articles(rows, passages, vectors)

    def _vectors(self, w: Writer, passages: list[Passage], report: BuildReport) -> np.ndarray:
        """The passages' vectors: taken over from deleted passages of the same title and text (an article
        moved, or whose metadata alone changed), embedded for the rest."""
        reused = w.reusable_vectors(passages)
        todo = [p for i, p in enumerate(passages) if i not in reused]
        fresh = self.embedder.encode_passages(todo) if todo else np.zeros((0, self.embedder.dim), np.float32)
        out = np.zeros((len(passages), self.embedder.dim), np.float32)
        if reused:
            out[list(reused)] = np.stack(list(reused.values()))
        out[[i for i in range(len(passages)) if i not in reused]] = fresh
        report.passages_embedded += len(todo)
        report.passages_reused += len(reused)
        return out

    def _embedder_works(self) -> bool:
        try:
            self.embedder.encode(["A plain sentence."])
            return True
        except Exception:  # noqa: BLE001 - any failure means the embedder itself is broken
            return False

    @staticmethod
    def _reread_files_of_another_reader(w: Writer, log: Callable[[str], None]) -> None:
        """Files read by another version of their reader are read again (a passage whose text did not
        change keeps its vector: see Writer.reusable_vectors)."""
        for key, version, suffixes, what in READERS:
            if w.get(key) == version:
                continue
            names = [name for name in w.files.seen() if Path(name).suffix.lower() in suffixes]
            if names:
                log(f"{len(names)} {what} are read again by the new reader ({version})")
                w.files.mark_unread(names)
            w.set(key, version)

    def _record_layout(self, w: Writer) -> None:
        """Record the base parts and vector storage asked for (`shards`, `vectors`), when given: the store
        keeps them from now on."""
        if self.shards:
            w.set("shards", str(self.shards))
        if self.vectors:
            w.set("vectors", self.vectors)

    @staticmethod
    def _policy(w: Writer, policy: MergePolicy) -> MergePolicy:
        """The merge policy with the base parts and vector storage this store is kept in."""
        return replace(policy, base_parts=int(w.get("shards") or 1),
                       codec=VECTOR_STORAGE[w.get("vectors") or "float32"])

    @staticmethod
    def _describe(w: Writer, report: BuildReport) -> None:
        report.passages_total = w.passage_count()
        report.articles_total = w.article_count()
        report.not_indexed = w.files.skipped_count()
        report.index_type = describe_segments(w.live_segments())
        report.generation = w.generation - 1
        report.commits = w.commits
