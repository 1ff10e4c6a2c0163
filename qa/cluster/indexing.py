"""Indexing on a Ray cluster: a pool of replicas (Ray actors, a GPU each where the cluster has GPUs,
else a CPU each) parses and splits the files and embeds the passages, while this
process stays the store's single writer: it decides what is new, changed or a duplicate and commits each
batch the replicas return, as a local build would. Needs `pip install 'qa[cluster]'`.

The files are read here (the cluster's nodes need no shared folder) and their bytes shipped to the
replicas. A replica whose worker dies is restarted by Ray and its call run again (`max_restarts`,
`max_task_retries`); the writer only ever commits whole batches it got back, so a lost worker costs time,
never an article, and nothing is committed twice.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from qa.chunking import Chunker
from qa.corpus import ArticleError, parse_file, source_bytes
from qa.cluster import connect
from qa.indexing import ReadFile

PIECE = 64  # texts per remote embedding call: small enough to spread a 2,048-passage batch over the replicas
TASK_FILES = 64  # files per remote reading call...
TASK_BYTES = 8_000_000  # ...or bytes, whichever comes first


def _read_and_split(chunker: Chunker, files: list[tuple[str, bytes]]) -> dict[str, ReadFile]:
    """Parse each file's bytes into articles and split them into passages."""
    out = {}
    for name, data in files:
        try:
            articles = parse_file(Path(name), data)
        except ArticleError as exc:
            out[name] = ReadFile(error=str(exc))
            continue
        try:
            out[name] = ReadFile([(a, chunker.split(a)) for a in articles])
        except Exception as exc:  # noqa: BLE001 - a tokenizer failure must not stop the others
            out[name] = ReadFile(error=f"cannot be split into passages ({type(exc).__name__}: {exc})")
    return out


class RayReadAhead:
    """An Indexer's `read_ahead` on the cluster: reads the files to index (the checks and the bytes,
    here) and has the replicas parse and split them, up to TASK_FILES files a call."""

    def __init__(self, replicas: RayEmbedder, chunker: Chunker, max_bytes: int,
                 log: Callable[[str], None] = print) -> None:
        self.replicas = replicas
        self._chunker = replicas.ray.put(chunker)
        self.max_bytes = max_bytes
        self.log = log

    def __call__(self, corpus_dir: Path, names: list[str]) -> dict[str, ReadFile]:
        t0 = time.perf_counter()
        out: dict[str, ReadFile] = {}
        groups = self._groups(corpus_dir, names, out)
        for done in self.replicas.map("read_and_split", [(self._chunker, g) for g in groups]):
            out.update(done)
        self.log(f"read and split {len(names)} file(s) on the cluster in {time.perf_counter() - t0:.1f}s")
        return out

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
        from qa.embedding import Embedder

        self.embedder = Embedder(model_name)

    def read_and_split(self, chunker: Chunker, files: list[tuple[str, bytes]]) -> dict[str, ReadFile]:
        return _read_and_split(chunker, files)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode(texts, progress=False)

    def dim(self) -> int:
        return self.embedder.dim

    def pid(self) -> int:
        return os.getpid()


class RayEmbedder:
    """A pool of replicas on the cluster; an Embedder (same `encode` and `dim`), results in input order."""

    def __init__(self, model_name: str, address: str, replicas: int | None = None,
                 log: Callable[[str], None] = print) -> None:
        self.ray = connect(address)
        self.model_name = model_name
        resources = self.ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = replicas or gpus or max(1, int(resources.get("CPU", 1)))
        options: dict[str, Any] = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        remote = self.ray.remote(max_restarts=-1, max_task_retries=-1, **options)(_Replica)
        self.replicas = [remote.remote(model_name) for _ in range(count)]
        self._dim: int | None = None
        log(f"working on {count} Ray replica(s) ({'a GPU' if gpus else 'a CPU'} each) at {address}")

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.ray.get(self.replicas[0].dim.remote()))
        return self._dim

    def map(self, method: str, calls: list[tuple[Any, ...]]) -> list[Any]:
        """Run `method` once per argument tuple, spread round-robin over the replicas; results in order."""
        refs = [getattr(self.replicas[n % len(self.replicas)], method).remote(*args) for n, args in enumerate(calls)]
        return self.ray.get(refs)

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
