"""Indexing on a Ray cluster: a pool of replicas (Ray actors, a GPU each where the cluster has GPUs,
else a CPU each) parses and splits the files and embeds the passages, while this
process stays the store's single writer: it decides what is new, changed or a duplicate and commits each
batch the replicas return, as a local build would. Needs `pip install 'qa[cluster]'`.

The files are read here (the cluster's nodes need no shared folder) and their bytes shipped to the
replicas. A replica whose worker dies is restarted by Ray and its call run again (up to RETRIES times);
the writer only ever commits whole batches it got back, so a lost worker costs time, never an article,
and nothing is committed twice. A file whose reading or embedding kills its worker every time is
skipped with that reason, like any file the build cannot index.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from qa.ingest.chunking import Chunker
from qa.ingest.files import article_id_of, parse_file, source_bytes
from qa.cluster import connect
from qa.config import Settings
from qa.errors import ArticleError, ClusterError
from qa.indexing.indexer import ReadFile
from qa.retrieval.embedding import TextEncoder

if TYPE_CHECKING:
    from qa.pipeline import Pipeline

PIECE = 64  # texts per remote embedding call: small enough to spread a 2,048-passage batch over the replicas
TASK_FILES = 64  # files per remote reading call...
TASK_BYTES = 8_000_000  # ...or bytes, whichever comes first
RETRIES = 3  # times one remote call is run again after its worker died


def _read_and_split(chunker: Chunker, files: list[tuple[str, bytes]]) -> dict[str, ReadFile]:
    """Parse each file's bytes into articles and split them into passages."""
    out = {}
    for name, data in files:
        try:
            articles = parse_file(Path(name), data, article_id_of(name))
        except ArticleError as exc:
            out[name] = ReadFile(error=str(exc))
            continue
        out[name] = ReadFile([(a, _split(chunker, a)) for a in articles])
    return out


def _split(chunker: Chunker, article: Any) -> list[Any] | None:
    """The article's passages; None when splitting fails (the build splits it again and reports why)."""
    try:
        return chunker.split(article)
    except Exception:  # noqa: BLE001 - the writer's own split gives the reason and skips the file
        return None


class RayReadAhead:
    """An Indexer's `read_ahead` on the cluster: reads the files to index (the checks and the bytes,
    here) and has the replicas parse and split them, up to TASK_FILES files a call."""

    def __init__(self, replicas: RayEmbedder, chunker: Chunker, max_bytes: int,
                 log: Callable[[str], None] = print) -> None:
        self.replicas = replicas
        self._chunker = replicas.ray.put(chunker)
        self.max_bytes = max_bytes
        self.log = log

    @property
    def wave_files(self) -> int:
        """Files per wave of a build (qa.indexing.Indexer.wave_files): 4 calls per replica, at least 1,000."""
        return max(1000, 4 * TASK_FILES * len(self.replicas.replicas))

    def __call__(self, corpus_dir: Path, names: list[str]) -> dict[str, ReadFile]:
        t0 = time.perf_counter()
        out: dict[str, ReadFile] = {}
        groups = self._groups(corpus_dir, names, out)
        for group, done in zip(groups, self.replicas.map("read_and_split", [(self._chunker, g) for g in groups],
                                                         errors=True)):
            out.update(self._one_by_one(group) if isinstance(done, Exception) else done)
        self.log(f"read and split {len(names)} file(s) on the cluster in {time.perf_counter() - t0:.1f}s")
        return out

    def _one_by_one(self, group: list[tuple[str, bytes]]) -> dict[str, ReadFile]:
        """A group whose worker kept dying: each file alone, so that only the one to blame is skipped.
        The single calls run side by side, so a file queued on a replica that another file kills fails
        with it; when several fail, each is read once more with nothing else running."""
        out: dict[str, ReadFile] = {}
        died = self._read_each(group, out)
        if len(died) > 1:
            data = dict(group)
            died = [again for name, _ in died for again in self._read_each([(name, data[name])], out)]
        for name, error in died:
            out[name] = ReadFile(error=f"its worker died while reading it ({type(error).__name__})")
        return out

    def _read_each(self, files: list[tuple[str, bytes]], out: dict[str, ReadFile]) -> list[tuple[str, Exception]]:
        """Read and split each file in a call of its own, into `out`; (name, error) of the calls that died."""
        died = []
        for (name, _), done in zip(files, self.replicas.map(
                "read_and_split", [(self._chunker, [(name, data)]) for name, data in files], errors=True)):
            if isinstance(done, Exception):
                died.append((name, done))
            else:
                out.update(done)
        return died

    def _groups(self, corpus_dir: Path, names: list[str], failed: dict[str, ReadFile]) -> list[list[tuple[str, bytes]]]:
        """The files' bytes in groups of TASK_FILES files or TASK_BYTES bytes; the unreadable go to `failed`."""
        root = corpus_dir.resolve()
        groups: list[list[tuple[str, bytes]]] = [[]]
        size = 0
        for name in names:
            try:
                data = source_bytes(root, corpus_dir / name, self.max_bytes)
            except ArticleError as exc:
                failed[name] = ReadFile(error=str(exc))
                continue
            if len(groups[-1]) >= TASK_FILES or size + len(data) > TASK_BYTES and groups[-1]:
                groups.append([])
                size = 0
            groups[-1].append((name, data))
            size += len(data)
        return [g for g in groups if g]


class _Replica:
    """One worker on the cluster, living in a Ray worker process: it reads and splits files and embeds
    passages (the model loads once per replica)."""

    def __init__(self, model_name: str) -> None:
        from qa.retrieval.embedding import Embedder

        self.embedder = Embedder(model_name)

    def read_and_split(self, chunker: Chunker, files: list[tuple[str, bytes]]) -> dict[str, ReadFile]:
        return _read_and_split(chunker, files)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode(texts, progress=False)

    def dim(self) -> int:
        return self.embedder.dim

    def pid(self) -> int:
        return os.getpid()


class RayEmbedder(TextEncoder):
    """A pool of replicas on the cluster; an Embedder (same `encode` and `dim`), results in input order."""

    def __init__(self, model_name: str, address: str, replicas: int | None = None,
                 log: Callable[[str], None] = print, start_timeout: float = 120.0) -> None:
        self.ray = connect(address)
        self.model_name = model_name
        free = self.ray.available_resources()
        gpus = int(free.get("GPU", 0))
        count = replicas or gpus or max(1, int(free.get("CPU", 1)))
        options: dict[str, Any] = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        # A dead replica is restarted each time; one call is run again at most RETRIES times (a file
        # that kills its worker every time must not stall the build: it is skipped, with the reason).
        remote = self.ray.remote(max_restarts=-1, max_task_retries=RETRIES, **options)(_Replica)
        self.replicas = self._started([remote.remote(model_name) for _ in range(count)], start_timeout)
        self._dim: int | None = None
        log(f"working on {len(self.replicas)} Ray replica(s) ({'a GPU' if gpus else 'a CPU'} each) at {address}")

    def _started(self, replicas: list[Any], timeout: float) -> list[Any]:
        """The replicas that loaded their model within `timeout` (the others, which the cluster could not
        place or start, are given back); ClusterError when none did."""
        calls = {r.pid.remote(): r for r in replicas}
        ready, late = self.ray.wait(list(calls), num_returns=len(calls), timeout=timeout)
        for ref in late:
            self.ray.kill(calls[ref])
        if not ready:
            raise ClusterError(f"no embedder replica started on the cluster within {timeout:.0f} s "
                               f"(are its CPUs or GPUs taken?)")
        return [calls[ref] for ref in ready]

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.ray.get(self.replicas[0].dim.remote()))
        return self._dim

    def map(self, method: str, calls: list[tuple[Any, ...]], errors: bool = False) -> list[Any]:
        """Run `method` once per argument tuple, spread round-robin over the replicas; results in order.
        A call that failed after its retries raises, or with `errors` comes back as its exception."""
        refs = [getattr(self.replicas[n % len(self.replicas)], method).remote(*args) for n, args in enumerate(calls)]
        if not errors:
            return self.ray.get(refs)
        out = []
        for ref in refs:
            try:
                out.append(self.ray.get(ref))
            except self.ray.exceptions.RayError as exc:
                out.append(exc)
        return out

    def encode(self, texts: list[str], progress: bool | None = None) -> np.ndarray:
        """Embed texts in pieces of PIECE spread over the replicas (sorted by length first, so that a
        piece pads little); blocks until all are back."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        ranked = [texts[i] for i in order]
        pieces = self.map("encode", [(ranked[i : i + PIECE],) for i in range(0, len(ranked), PIECE)])
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        vectors[order] = np.concatenate(pieces)
        return vectors

    def worker_pids(self) -> list[int]:
        """The replicas' process ids (for tests that kill one)."""
        return [int(p) for p in self.map("pid", [()] * len(self.replicas))]


def cluster_pipeline(settings: Settings, address: str, replicas: int | None = None,
                     log: Callable[[str], None] = print) -> Pipeline:
    """A pipeline whose builds read, split and embed on the Ray cluster at `address` (`qa index --ray`)."""
    from qa.pipeline import Pipeline

    embedder = RayEmbedder(settings.embedding_model, address, replicas, log=log)
    pipeline = Pipeline(settings, log=log, embedder=embedder)
    ahead = RayReadAhead(embedder, pipeline.indexer.chunker, settings.max_article_bytes, log=log)
    pipeline.indexer.read_ahead, pipeline.indexer.wave_files = ahead, ahead.wave_files
    return pipeline
