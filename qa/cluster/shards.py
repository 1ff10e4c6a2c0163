"""Vector search fanned out over shards on a Ray cluster (`qa serve --ray ADDRESS --shards N`).

A shard is a Ray Serve deployment (`Shard0` ... `ShardN-1`) that holds some of the store's vector segments
in its own memory and searches them; the question's vector goes to every shard at once and their hits are
merged by score. Which segments a shard holds is decided by `assign`: the parts of the base (written by
`qa index --shards N`, see qa.store.compaction) round robin, each delta segment to the shard holding the
fewest vectors. Each segment is searched with the same code and nprobe as in one process, and parts of
the base share one trained quantizer, so the merged hits are exactly the one-process hits.

Segment files never change, so a shard fetches each once: the process that holds the store sends a file's
bytes through Ray's object store the first time a shard needs it (nodes need no shared folder), and the
shard checks its size, CRC-32 and vector count before using it. Every search names its generation; a shard
that does not hold that generation's segments (after a commit, or when its replica was restarted after a
crash) answers None, is brought up to date and asked again. Keyword search, passages and articles stay
in the store's database, on the node that holds the index folder.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from qa.cluster import ClusterError
from qa.store import Snapshot
from qa.store import segments as seg
from qa.store.schema import SegmentRow

KEEP_GENERATIONS = 2  # a shard answers for the last 2 generations it was given: searches in flight at a commit


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
    """A `Shard` deployment replica: segment files in a folder of its own, searched per generation."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="qa-shard-"))
        self.loaded: dict[str, Any] = {}  # file -> loaded index
        self.views: OrderedDict[int, tuple[list[Any], Any, int]] = OrderedDict()  # generation -> indexes, selector, nprobe
        self.lock = threading.Lock()

    def search(self, generation: int, query: np.ndarray, k: int) -> list[tuple[int, float]] | None:
        """(passage id, score) of the k best of this shard's segments, or None when it does not hold
        that generation (sync it first)."""
        with self.lock:
            view = self.views.get(generation)
        if view is None:
            return None
        indexes, selector, nprobe = view
        return seg.search(indexes, query, k, nprobe, selector)

    def sync(self, generation: int, rows: list[SegmentRow], hidden: np.ndarray, nprobe: int) -> list[str]:
        """Hold these segments for `generation`; the files it still needs (send them with `load`, then sync
        again). Files no kept generation uses are dropped."""
        with self.lock:
            missing = [r.file for r in rows if r.file not in self.loaded]
            if missing:
                return missing
            self.views[generation] = ([self.loaded[r.file] for r in rows], seg.hiding(hidden), nprobe)
            self.views.move_to_end(generation)
            while len(self.views) > KEEP_GENERATIONS:
                self.views.popitem(last=False)
            self._drop_unused()
            return []

    def load(self, row: SegmentRow, data: bytes) -> None:
        """Keep one segment file, checked against what the store recorded of it."""
        path = self.folder / row.file
        tmp = self.folder / f".{row.file}.tmp"
        tmp.write_bytes(data)
        tmp.replace(path)
        index = seg.read_segment(path, row.vectors, row.bytes, row.crc32)
        with self.lock:
            self.loaded[row.file] = index

    def held(self) -> dict[str, int]:
        """Vectors held per segment file (for tests and the bench)."""
        with self.lock:
            return {name: int(index.ntotal) for name, index in self.loaded.items()}

    def _drop_unused(self) -> None:
        used = {id(index) for indexes, _, _ in self.views.values() for index in indexes}
        for name in [n for n, index in self.loaded.items() if id(index) not in used]:
            del self.loaded[name]
            (self.folder / name).unlink(missing_ok=True)

    def __del__(self) -> None:  # a replica killed outright leaves its folder in the temporary directory
        shutil.rmtree(self.folder, ignore_errors=True)


class ShardedSearch:
    """The dense search of `qa.retrieval.Retriever`, fanned out over the `Shard` deployments."""

    def __init__(self, handles: Sequence[Any], segments_dir: Path) -> None:
        if not handles:
            raise ValueError("a sharded search needs at least one shard")
        self.handles = list(handles)
        self.segments_dir = Path(segments_dir)
        self._locks = [threading.Lock() for _ in self.handles]  # one sync at a time per shard

    def __call__(self, snapshot: Snapshot, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(passage id, score) of the k best live passages of the snapshot, best first."""
        plan = assign([row for row, _ in snapshot.segments], len(self.handles))
        pending = [h.search.remote(snapshot.generation, query, k) for h in self.handles]
        found: list[tuple[int, float]] = []
        for shard, (handle, rows, response) in enumerate(zip(self.handles, plan, pending)):
            hits = response.result()
            if hits is None:
                self._sync(shard, snapshot, rows)
                hits = handle.search.remote(snapshot.generation, query, k).result()
                if hits is None:
                    raise ClusterError(f"shard {shard} does not hold generation {snapshot.generation} after a sync")
            found.extend(hits)
        found.sort(key=lambda t: (-t[1], t[0]))  # the order of seg.search in one process
        return found[:k]

    def _sync(self, shard: int, snapshot: Snapshot, rows: list[SegmentRow]) -> None:
        """Bring one shard to the snapshot's generation, sending the segment files it lacks."""
        handle = self.handles[shard]
        with self._locks[shard]:
            args = (snapshot.generation, rows, snapshot.hidden, snapshot.nprobe)
            for name in handle.sync.remote(*args).result():
                row = next(r for r in rows if r.file == name)
                handle.load.remote(row, (self.segments_dir / name).read_bytes()).result()
            if handle.sync.remote(*args).result():
                raise ClusterError(f"shard {shard} could not load its segments")
