"""Vector search fanned out over shards on a Ray cluster (`qa serve --ray ADDRESS --shards N`).

A shard is a Ray Serve deployment (`Shard0` ... `ShardN-1`) that holds some of the store's vector segments
in its own memory and searches them; the question's vector goes to every shard at once and their hits are
merged by score. Which segments a shard holds is decided by `assign`: the parts of the base (written by
`qa index --shards N`, see qa.store.compaction) round robin, each delta segment to the shard holding the
fewest vectors. Each segment is searched with the same code and nprobe as in one process, and parts of
the base share one trained quantizer, so the merged hits are exactly the one-process hits.

Segment files never change, so a shard fetches each once: the process that holds the store sends a file's
bytes through Ray's object store the first time a shard needs it (nodes need no shared folder; a file
travels whole, so the sending process briefly holds one copy of the files a shard lacks), and the shard
checks its size, CRC-32 and vector count before using it. Every search names its store version (store id,
generation); a shard that does not hold it (after a commit, a rebuild into a new store, or when its replica
was restarted after a crash) answers None, is brought up to date and asked again. Keyword search, passages and articles stay
in the store's database, on the node that holds the index folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from qa.errors import ClusterError
from qa.store import Snapshot
from qa.store import segments as seg
from qa.store.schema import SegmentRow

KEEP_GENERATIONS = 2  # a shard answers for its newest 2 generations: questions in flight at a commit
ATTEMPTS = 3  # syncs tried before a search gives up (each one after another caller moved the shard on)

Version = tuple[str, int]  # (store id, generation), as Snapshot.version: generations restart in a new store


def assign(rows: Sequence[SegmentRow], shards: int) -> list[list[SegmentRow]]:
    """The segments each of `shards` shards holds: base parts round robin, then each delta segment to the
    shard with the fewest vectors so far (pure and deterministic: every process computes the same)."""
    held: list[list[SegmentRow]] = [[] for _ in range(shards)]
    load = [0] * shards
    ordered = sorted(rows, key=lambda r: (r.role != "base", r.id))
    for n, row in enumerate(r for r in ordered if r.role == "base"):
        held[n % shards].append(row)
        load[n % shards] += row.vectors
    for row in (r for r in ordered if r.role != "base"):
        least = min(range(shards), key=lambda i: (load[i], i))
        held[least].append(row)
        load[least] += row.vectors
    return held


class ShardReplica:
    """A `Shard` deployment replica: segment files in a folder of its own, searched per store version.
    Serve calls it from several threads at once: files are loaded outside the lock, and a view (the
    segments of one version) is installed together with the files it needs, so no other caller's
    eviction can come between them."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="qa-shard-"))
        self.loaded: dict[tuple[str, int], tuple[Any, Path]] = {}  # (file, CRC-32) -> loaded index, its file
        self.views: dict[Version, tuple[list[Any], Any, int]] = {}  # version -> indexes, selector, nprobe
        self.lock = threading.Lock()

    def search(self, version: Version, query: np.ndarray, k: int) -> list[tuple[int, float]] | None:
        """(passage id, score) of the k best of this shard's segments, or None when it does not hold
        that version (sync it first)."""
        with self.lock:
            view = self.views.get(tuple(version))
        if view is None:
            return None
        indexes, selector, nprobe = view
        return seg.search(indexes, query, k, nprobe, selector)

    def sync(self, version: Version, rows: list[SegmentRow], hidden: np.ndarray, nprobe: int,
             files: dict[str, bytes] | None = None) -> list[str]:
        """Hold these segments for `version`, loading the `files` sent along; returns the files still
        needed (send them with the next sync), or [] once the version is held."""
        fresh = self._load_all([r for r in rows if files and r.file in files], files or {})
        with self.lock:
            for key, (index, path) in fresh.items():
                if key in self.loaded:  # another call loaded it meanwhile: keep one copy
                    path.unlink(missing_ok=True)
                else:
                    self.loaded[key] = (index, path)
            missing = [r.file for r in rows if (r.file, r.crc32) not in self.loaded]
            if missing:
                return missing
            indexes = [self.loaded[(r.file, r.crc32)][0] for r in rows]
            self.views[tuple(version)] = (indexes, seg.hiding(hidden), nprobe)
            self._evict(tuple(version))
            return []

    def pid(self) -> int:
        """This replica's process id (for tests that kill one)."""
        return os.getpid()

    def held(self) -> dict[str, int]:
        """Vectors held per segment file (for tests and the bench)."""
        with self.lock:
            return {name: int(index.ntotal) for (name, _), (index, _) in self.loaded.items()}

    def _load_all(self, rows: list[SegmentRow], files: dict[str, bytes]) -> dict[tuple[str, int], tuple[Any, Path]]:
        """Load these segments from the bytes sent; on any failure none of them is kept."""
        fresh: dict[tuple[str, int], tuple[Any, Path]] = {}
        try:
            for row in rows:
                fresh[(row.file, row.crc32)] = self._load(row, files[row.file])
        except BaseException:
            for _, path in fresh.values():
                path.unlink(missing_ok=True)
            raise
        return fresh

    def _load(self, row: SegmentRow, data: bytes) -> tuple[Any, Path]:
        """One segment in a file of its own (concurrent loads of one segment never share a file),
        checked against what the store recorded."""
        fd, name = tempfile.mkstemp(dir=self.folder, prefix=f"{row.crc32:08x}-", suffix=f"-{row.file}")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return seg.read_segment(path, row.vectors, row.bytes, row.crc32), path
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _evict(self, installed: Version) -> None:
        """Keep the version just installed and the newest KEEP_GENERATIONS of its store; drop the files no
        view uses (a search holding one keeps its memory map)."""
        store_id = installed[0]
        mine = sorted((v for v in self.views if v[0] == store_id), key=lambda v: v[1])
        for version in [v for v in self.views if v[0] != store_id] + mine[:-KEEP_GENERATIONS]:
            if version != installed:
                del self.views[version]
        used = {id(index) for indexes, _, _ in self.views.values() for index in indexes}
        for key in [k for k, (index, _) in self.loaded.items() if id(index) not in used]:
            self.loaded.pop(key)[1].unlink(missing_ok=True)

    def __del__(self) -> None:  # a replica killed outright leaves its folder in the temporary directory
        shutil.rmtree(self.folder, ignore_errors=True)


class ShardedSearch:
    """The dense search of `qa.retrieval.Retriever`, fanned out over the `Shard` deployments."""

    def __init__(self, handles: Sequence[Any], segments_dir: Path, wait_s: float = 60.0) -> None:
        if not handles:
            raise ClusterError("a sharded search needs at least one shard")
        self.handles = list(handles)
        self.segments_dir = Path(segments_dir)
        self._locks = [threading.Lock() for _ in self.handles]  # one sync at a time per shard
        self.wait_s = wait_s

    def __call__(self, snapshot: Snapshot, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(passage id, score) of the k best live passages of the snapshot, best first."""
        plan = assign([row for row, _ in snapshot.segments], len(self.handles))
        version = snapshot.version
        pending = [h.search.remote(version, query, k) for h in self.handles]
        found: list[tuple[int, float]] = []
        for shard, (rows, response) in enumerate(zip(plan, pending)):
            found.extend(self._hits(shard, snapshot, rows, query, k, response))
        found.sort(key=lambda t: (-t[1], t[0]))  # the order of seg.search in one process
        return found[:k]

    def _hits(self, shard: int, snapshot: Snapshot, rows: list[SegmentRow], query: np.ndarray, k: int,
              response: Any) -> list[tuple[int, float]]:
        """One shard's hits: synced when it lacks the snapshot's version (ATTEMPTS times at most); a replica
        that died is waited for while Serve restarts it (`wait_s` at most), then synced like a new one."""
        from ray.exceptions import RayActorError

        deadline = time.monotonic() + self.wait_s
        syncs = 0
        while True:
            try:
                hits = response.result()
                if hits is not None:
                    return hits
                if syncs == ATTEMPTS:
                    raise ClusterError(f"shard {shard} did not keep generation {snapshot.generation} after "
                                       f"{ATTEMPTS} syncs")
                syncs += 1
                self._sync(shard, snapshot, rows)
            except RayActorError as exc:  # the replica died, or is being restarted (errors raised in it go up)
                if time.monotonic() > deadline:
                    raise ClusterError(f"shard {shard} did not answer for {self.wait_s:.0f} s: "
                                       f"{type(exc).__name__}") from None
                time.sleep(0.5)
            response = self.handles[shard].search.remote(snapshot.version, query, k)

    def _sync(self, shard: int, snapshot: Snapshot, rows: list[SegmentRow]) -> None:
        """Bring one shard to the snapshot's version, sending the segment files it lacks with the view."""
        handle = self.handles[shard]
        with self._locks[shard]:
            args = (snapshot.version, rows, snapshot.hidden, snapshot.nprobe)
            missing = handle.sync.remote(*args).result()
            for _ in range(ATTEMPTS):  # another caller's sync may have let a file go meanwhile: send it too
                if not missing:
                    return
                files = {name: (self.segments_dir / name).read_bytes() for name in missing}
                missing = handle.sync.remote(*args, files).result()
