"""The on-disk index: FAISS vectors + passage store + manifest, updated incrementally and atomically.

Layout of the index folder:
  manifest.json          what is indexed: settings, per-article content hash and passage ids, file checksums
  vectors.<gen>.faiss    FAISS index with passage ids ("IDMap2,Flat" up to `flat_max_passages`, then "IVFn,Flat")
  passages.<gen>.jsonl   one passage per line
A build writes a new generation's files, then replaces manifest.json with one rename, so a crash at any
point leaves the previous generation readable; old generations are deleted after the switch.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from qa.chunking import Chunker
from qa.corpus import Skipped, content_hash, file_stats, read_corpus, signature, text_digest
from qa.embedding import Embedder
from qa.types import Article, Passage

FORMAT = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
CHUNKER_VERSION = 1


class IndexStoreError(RuntimeError):
    """The index on disk is missing, unreadable or inconsistent; the message says how to rebuild."""


@dataclass
class BuildReport:
    """What a build did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    passages_embedded: int = 0
    passages_total: int = 0
    articles_total: int = 0
    index_type: str = ""
    full_rebuild: str | None = None  # why the whole corpus was re-embedded, if it was
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.articles_total} articles, {self.passages_total} passages ({self.index_type})",
                 f"added {len(self.added)}, changed {len(self.changed)}, removed {len(self.removed)}, "
                 f"unchanged {self.unchanged}",
                 f"embedded {self.passages_embedded} passages in {self.seconds:.1f}s"]
        if self.full_rebuild:
            parts.insert(0, f"full rebuild: {self.full_rebuild}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def chunking_settings(chunker: Chunker) -> dict[str, Any]:
    """What the manifest records about chunking: a change to any of it forces a full rebuild."""
    vocab = chunker.tokenizer.get_vocab()
    fingerprint = hashlib.sha1(json.dumps(sorted(vocab.items())).encode()).hexdigest()[:16]
    return {"version": CHUNKER_VERSION, "tokenizer": fingerprint,
            "max_tokens": chunker.max_tokens, "overlap": chunker.overlap}


def index_type_for(n: int, flat_max: int) -> str:
    """Exact search while small; IVF (about 4*sqrt(n) lists) above `flat_max` passages."""
    if n <= flat_max:
        return "IDMap2,Flat"
    nlist = int(2 ** round(math.log2(4 * math.sqrt(n))))
    return f"IVF{nlist},Flat"


@contextlib.contextmanager
def locked(index_dir: Path, log: Callable[[str], None] = print) -> Iterator[None]:
    """Serialise writers: a second build waits for the first to finish."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another indexer is updating {index_dir}; waiting for it to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    path = index_dir / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise IndexStoreError(f"{path} is unreadable ({exc}); rebuild with `qa index --rebuild`") from None
    if manifest.get("format") != FORMAT:
        raise IndexStoreError(f"{path} has an unknown format; rebuild with `qa index --rebuild`")
    return manifest


class IndexSnapshot:
    """A loaded, read-only generation of the index: FAISS vectors and passages by id."""

    def __init__(self, index_dir: Path, manifest: dict[str, Any], vectors: Any, passages: dict[int, Passage]):
        self.index_dir = index_dir
        self.manifest = manifest
        self.vectors = vectors
        self.passages = passages

    @property
    def generation(self) -> int:
        return int(self.manifest["generation"])

    @property
    def articles(self) -> dict[str, dict[str, Any]]:
        return self.manifest["articles"]

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(passage id, cosine similarity) of the k nearest passages to one normalised query vector."""
        if self.vectors.ntotal == 0 or k <= 0:
            return []
        scores, ids = self.vectors.search(query.reshape(1, -1).astype(np.float32), min(k, self.vectors.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def _file_info(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": h.hexdigest()}


def load_index(index_dir: Path, nprobe: int = 32) -> IndexSnapshot:
    """Load the current generation, checking sizes, checksums and counts against the manifest."""
    import faiss

    manifest = read_manifest(index_dir)
    if manifest is None:
        raise IndexStoreError(f"no index in {index_dir}; build it with `qa index`")
    how = "rebuild with `qa index --rebuild`"
    files = manifest["files"]
    for role in ("vectors", "passages"):
        path = index_dir / files[role]["name"]
        if not path.exists():
            raise IndexStoreError(f"index file {path} is missing; {how}")
        info = _file_info(path)
        if info["bytes"] != files[role]["bytes"] or info["sha256"] != files[role]["sha256"]:
            raise IndexStoreError(f"index file {path} is truncated or corrupted (checksum mismatch); {how}")
    vectors = faiss.read_index(str(index_dir / files["vectors"]["name"]))
    if hasattr(vectors, "nprobe"):
        vectors.nprobe = nprobe
    passages: dict[int, Passage] = {}
    with open(index_dir / files["passages"]["name"], encoding="utf-8") as fh:
        for line in fh:
            p = Passage(**json.loads(line))
            passages[p.id] = p
    if vectors.ntotal != len(passages) or len(passages) != manifest["passages"]:
        raise IndexStoreError(
            f"index in {index_dir} is inconsistent ({vectors.ntotal} vectors, {len(passages)} passages, "
            f"manifest says {manifest['passages']}); {how}"
        )
    return IndexSnapshot(index_dir, manifest, vectors, passages)


def _all_vectors(index: Any) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every entry of an IDMap2,Flat or IVF,Flat index."""
    import faiss

    if isinstance(index, faiss.IndexIDMap2):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        return ids, index.index.reconstruct_n(0, index.ntotal)
    ivf = faiss.extract_index_ivf(index)
    ids_parts, vec_parts = [], []
    for lst in range(ivf.nlist):
        n = ivf.invlists.list_size(lst)
        if not n:
            continue
        ids_parts.append(faiss.rev_swig_ptr(ivf.invlists.get_ids(lst), n).copy())
        codes = faiss.rev_swig_ptr(ivf.invlists.get_codes(lst), n * ivf.code_size).copy()
        vec_parts.append(codes.view(np.float32).reshape(n, ivf.d))
    if not ids_parts:
        return np.zeros(0, np.int64), np.zeros((0, ivf.d), np.float32)
    return np.concatenate(ids_parts).astype(np.int64), np.concatenate(vec_parts)


def _new_index(kind: str, dim: int, train: np.ndarray) -> Any:
    import faiss

    index = faiss.index_factory(dim, kind, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        # k-means on 64 points per list is plenty (FAISS asks for >= 39) and keeps 1M-passage builds quick.
        cap = 64 * faiss.extract_index_ivf(index).nlist
        if len(train) > cap:
            train = train[np.random.default_rng(0).choice(len(train), cap, replace=False)]
        index.train(np.ascontiguousarray(train))
    return index


def _fsync_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)


class Indexer:
    """Brings the index folder in line with the corpus folder, embedding only new or changed articles."""

    def __init__(self, corpus_dir: Path, index_dir: Path, chunker: Chunker, embedder: Embedder,
                 embedding_model: str, flat_max_passages: int = 50_000, max_article_bytes: int = 10_000_000,
                 log: Callable[[str], None] = print) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.index_dir = Path(index_dir)
        self.chunker = chunker
        self.embedder = embedder
        self.embedding_model = embedding_model
        self.flat_max_passages = flat_max_passages
        self.max_article_bytes = max_article_bytes
        self.log = log

    def is_current(self, corpus_signature: str | None = None) -> bool:
        """True when the manifest was built from the corpus folder as it is now (cheap: no file reads);
        pass the folder's `signature` if it is already known."""
        try:
            manifest = read_manifest(self.index_dir)
        except IndexStoreError:
            return False
        return manifest is not None and manifest.get("corpus_signature") == (
            corpus_signature or signature(self.corpus_dir))

    def run(self, rebuild: bool = False, log: Callable[[str], None] | None = None) -> BuildReport:
        """Update the index under the writers' lock; `log` receives progress messages."""
        if not self.corpus_dir.is_dir():
            raise FileNotFoundError(f"corpus folder not found: {self.corpus_dir}")
        log = log or self.log
        with locked(self.index_dir, log):
            return self._build(rebuild, log)

    def _build(self, rebuild: bool, log: Callable[[str], None]) -> BuildReport:
        import faiss

        t0 = time.perf_counter()
        report = BuildReport()
        chunking = chunking_settings(self.chunker)

        old: dict[str, Any] | None = None
        try:
            old = read_manifest(self.index_dir)
        except IndexStoreError as exc:
            report.full_rebuild = str(exc)
        if rebuild and old is not None:
            report.full_rebuild, old = "requested (--rebuild)", None
        elif old is not None and old.get("embedding_model") != self.embedding_model:
            report.full_rebuild = (f"embedding model changed from {old.get('embedding_model')!r} "
                                   f"to {self.embedding_model!r}")
            old = None
        elif old is not None and old.get("chunking") != chunking:
            report.full_rebuild = f"chunking settings changed from {old.get('chunking')} to {chunking}"
            old = None
        if report.full_rebuild:
            log(f"index will be rebuilt in full: {report.full_rebuild}")

        index = passages = None
        if old is not None:
            try:
                snap = load_index(self.index_dir)
                index, passages = snap.vectors, snap.passages
            except (IndexStoreError, RuntimeError) as exc:
                report.full_rebuild = str(exc)
                log(f"index will be rebuilt in full: {exc}")
                old = None
        old_articles: dict[str, Any] = old["articles"] if old else {}
        if passages is None:
            passages = {}
        next_id = int(old["next_id"]) if old else 0

        # Files whose size and mtime match the manifest are not read again: their articles carry over.
        # Files skipped last time are read again (a duplicate's original may be gone now).
        stats = file_stats(self.corpus_dir)
        sig = signature(self.corpus_dir, stats)
        old_stats = old.get("sources", {}) if old else {}
        was_skipped = {Path(s["path"]).name for s in old.get("skipped", [])} if old else set()
        same = {name for name, st in stats.items() if old_stats.get(name) == st and name not in was_skipped}
        kept = {aid: a for aid, a in old_articles.items() if a["path"] in same}
        scan = read_corpus(self.corpus_dir, self.max_article_bytes, skip=same,
                           known_ids={aid: a["path"] for aid, a in kept.items()},
                           known_texts={a["text_digest"]: a["path"] for a in kept.values() if "text_digest" in a})
        report.skipped = scan.skipped
        for s in scan.skipped:
            log(f"skipped {s.path}: {s.reason}")

        current = {a.id: a for a in scan.articles}
        hashes = {a.id: content_hash(a) for a in scan.articles}
        report.removed = sorted(set(old_articles) - set(current) - set(kept))
        report.unchanged = len(kept)
        for aid in current:
            if aid not in old_articles:
                report.added.append(aid)
            elif old_articles[aid]["hash"] != hashes[aid]:
                report.changed.append(aid)
            else:
                report.unchanged += 1

        drop = [pid for aid in report.removed + report.changed for pid in old_articles[aid]["passages"]]
        todo: list[Article] = [current[a] for a in report.added + report.changed]
        new_passages: list[Passage] = []
        for article in todo:
            chunks = self.chunker.split(article, first_id=next_id)
            next_id += len(chunks)
            new_passages.extend(chunks)
        vectors = np.zeros((0, 0), np.float32)
        if new_passages:
            log(f"embedding {len(new_passages)} passages of {len(todo)} articles")
            te = time.perf_counter()
            vectors = self.embedder.encode([f"{p.title}\n{p.text}" for p in new_passages])
            report.embed_seconds = time.perf_counter() - te
        report.passages_embedded = len(new_passages)

        for pid in drop:
            passages.pop(pid, None)
        for p in new_passages:
            passages[p.id] = p
        total = len(passages)
        kind = index_type_for(total, self.flat_max_passages)
        trained_on = int(old.get("trained_on", 0)) if old else 0
        if index is None:
            dim = vectors.shape[1] if new_passages else self.embedder.dim
            index = _new_index(kind, dim, vectors)
            trained_on = total
        if drop:
            index.remove_ids(np.asarray(drop, dtype=np.int64))
        if new_passages:
            index.add_with_ids(vectors, np.asarray([p.id for p in new_passages], dtype=np.int64))
        old_kind = old.get("index_type") if old else kind
        if kind != old_kind or (kind.startswith("IVF") and total > 4 * trained_on):
            log(f"re-organising the vector index as {kind} for {total} passages")
            ids, vecs = _all_vectors(index)
            index = _new_index(kind, vecs.shape[1], vecs)
            index.add_with_ids(vecs, ids)
            trained_on = total

        generation = int(old["generation"]) + 1 if old else 1
        vec_path = self.index_dir / f"vectors.{generation}.faiss"
        pas_path = self.index_dir / f"passages.{generation}.jsonl"
        _fsync_write(vec_path, lambda p: faiss.write_index(index, str(p)))

        def write_passages(path: Path) -> None:
            with open(path, "w", encoding="utf-8") as fh:
                for p in passages.values():
                    fh.write(json.dumps(vars(p), ensure_ascii=False) + "\n")  # flat dataclass: vars == asdict

        _fsync_write(pas_path, write_passages)
        by_article: dict[str, list[int]] = {}
        for p in passages.values():
            by_article.setdefault(p.article_id, []).append(p.id)
        manifest = {
            "format": FORMAT,
            "generation": generation,
            "embedding_model": self.embedding_model,
            "dim": int(index.d),
            "chunking": chunking,
            "index_type": kind,
            "trained_on": trained_on,
            "next_id": next_id,
            "passages": total,
            "corpus_signature": sig,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": {"vectors": _file_info(vec_path), "passages": _file_info(pas_path)},
            "sources": stats,
            "articles": {
                **kept,
                **{a.id: {"hash": hashes[a.id], "text_digest": text_digest(a), "title": a.title,
                          "path": Path(a.path).name, "url": a.url, "date": a.date,
                          "passages": by_article.get(a.id, [])}
                   for a in scan.articles},
            },
            "skipped": [asdict(s) for s in scan.skipped],
        }
        _fsync_write(self.index_dir / MANIFEST,
                     lambda p: p.write_text(json.dumps(manifest, ensure_ascii=False, separators=(",", ":"))))
        # Keep the previous generation too: a reader may have read the old manifest a moment ago.
        keep = {MANIFEST, LOCK} | {f"{kind}.{g}.{ext}" for g in (generation, generation - 1)
                                   for kind, ext in (("vectors", "faiss"), ("passages", "jsonl"))}
        for f in self.index_dir.iterdir():
            if f.is_file() and f.name not in keep and f.name.startswith(("vectors.", "passages.", MANIFEST)):
                f.unlink(missing_ok=True)

        report.passages_total = total
        report.articles_total = len(kept) + len(scan.articles)
        report.index_type = kind
        report.seconds = time.perf_counter() - t0
        return report
