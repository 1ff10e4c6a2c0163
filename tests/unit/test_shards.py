"""Sharded vector search (qa.cluster.shards) without a cluster: the Shard replicas are called in this process,
from many threads at once, through a handle with Ray Serve's call shape (`handle.method.remote(...).result()`).
The results are checked against the snapshot's own search. (tests/test_cluster.py runs them on Ray Serve.)"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from qa.cluster.shards import ShardedSearch, ShardReplica, assign
from qa.store import MergePolicy, Store
from qa.store.schema import SegmentRow
from test_store import DIM, _add, _compact


class _Call:
    def __init__(self, value): self.value = value
    def result(self): return self.value


class _Method:
    def __init__(self, fn): self.fn = fn
    def remote(self, *args): return _Call(self.fn(*args))


class _Handle:
    """In-process stand-in for a Serve handle's call shape only: the replica itself is the real class."""

    def __init__(self, replica: ShardReplica):
        self.search, self.sync = _Method(replica.search), _Method(replica.sync)


def _queries(n: int, seed: int) -> np.ndarray:
    q = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_assign_spreads_base_parts_and_deltas():
    rows = [SegmentRow(i, f"s{i}", role, "Flat", n, 0, 0, 1)
            for i, role, n in [(1, "base", 50), (2, "base", 50), (3, "base", 50), (4, "delta", 5), (5, "delta", 9)]]
    held = assign(rows, 2)
    assert [[r.id for r in h] for h in held] == [[1, 3], [2, 4, 5]]
    assert sorted(r.id for h in assign(rows, 7) for r in h) == [1, 2, 3, 4, 5], "every segment held once"


def test_sharded_search_under_concurrent_commits_equals_the_snapshots_own(tmp_path: Path):
    rng = np.random.default_rng(21)
    store = Store(tmp_path / "index", nprobe=2)
    policy = MergePolicy(flat_max=60, base_parts=3)
    with store.writer() as w:
        _add(w, 0, 40, rng)
    _compact(store, policy)
    replicas = [ShardReplica() for _ in range(2)]
    searches = [ShardedSearch([_Handle(r) for r in replicas], store.segments_dir) for _ in range(2)]  # chat + ingress
    snapshots = [store.snapshot()]
    errors: list[str] = []

    def ask(n: int) -> None:
        for i, q in enumerate(_queries(30, n)):
            snap = snapshots[-1 if i % 3 else 0]  # now and then a question still on the first generation
            try:
                assert searches[n % 2](snap, q, 8) == snap.search_vectors(q, 8)
            except Exception as exc:  # noqa: BLE001 - collected and shown below
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for n in range(4):  # commits meanwhile: new deltas, a delete, a merge
        with store.writer() as w:
            _add(w, 100 + 10 * n, 5, rng)
            if n == 2:
                w.delete_article("a3")
        _compact(store, policy)
        snapshots.append(store.snapshot())
    for t in threads:
        t.join()
    assert errors == []
    last = snapshots[-1]
    for q in _queries(10, 99):
        assert searches[0](last, q, 8) == last.search_vectors(q, 8)
    held = {name for r in replicas for name in r.held()}
    assert len(held) <= 3 * len(last.segments), "files of evicted generations are let go"


def test_a_new_store_with_the_same_generations_is_not_mistaken_for_the_old(tmp_path: Path):
    rng = np.random.default_rng(22)
    stores = [Store(tmp_path / name) for name in ("first", "second")]
    for store in stores:  # same generation numbers and segment file names, other vectors
        with store.writer() as w:
            _add(w, 0, 20, rng)
    replica = ShardReplica()
    q = _queries(1, 5)[0]
    for store in stores:
        snap = store.snapshot()
        assert ShardedSearch([_Handle(replica)], store.segments_dir)(snap, q, 5) == snap.search_vectors(q, 5)


def test_a_damaged_file_is_refused_and_not_kept(tmp_path: Path):
    rng = np.random.default_rng(23)
    store = Store(tmp_path / "index")
    with store.writer() as w:
        _add(w, 0, 10, rng)
    snap = store.snapshot()
    row = snap.segments[0][0]
    replica = ShardReplica()
    with pytest.raises(Exception, match="truncated or corrupted"):
        replica.sync(snap.version, [row], snap.hidden, 1, {row.file: b"not a faiss file"})
    assert replica.held() == {} and not list(replica.folder.iterdir())
    assert replica.sync(snap.version, [row], snap.hidden, 1) == [row.file], "still missing: send it again"
