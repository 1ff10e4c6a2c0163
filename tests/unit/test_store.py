"""The store layer alone (no models): segmented search checked against brute force, tombstones, merges,
leases, hysteresis, keyword search, the pure build plan. Vectors are random unit vectors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.indexing.plan import plan_build
from qa.store import MergePolicy, SourceRow, Store
from qa.store.compaction import compact, merge, plan_merge
from qa.store.keywords import fts_query, query_words
from qa.store.schema import ArticleRow
from qa.store import segments as seg
from qa.store.segments import base_kind, ideal_kind
from qa.records import Passage

DIM = 16
WORDS = "ferry library harbour mayor bridge election river council museum budget".split()


def _add(w, first_article: int, n_articles: int, rng: np.random.Generator, per_article: int = 3) -> dict[int, np.ndarray]:
    """Add articles a<i> of `per_article` passages with random vectors; returns {passage id: vector}."""
    rows, passages = [], []
    for i in range(first_article, first_article + n_articles):
        aid = f"a{i}"
        w.files.record(f"{aid}.txt", 1, 1)
        rows.append((ArticleRow(aid, f"{aid}.txt", f"Title {i}", None, None, f"h{i}"), f"d{i}"))
        first = w.allocate_ids(per_article)
        for j in range(per_article):
            text = f"{WORDS[(i + j) % len(WORDS)]} number{i} part{j}"
            passages.append(Passage(first + j, aid, f"Title {i}", text, 0, len(text)))
    vectors = rng.standard_normal((len(passages), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    w.add_articles(rows, passages, vectors)
    return {p.id: v for p, v in zip(passages, vectors)}


def _brute(live: dict[int, np.ndarray], q: np.ndarray, k: int) -> list[int]:
    ids = np.array(sorted(live))
    scores = np.stack([live[i] for i in ids]) @ q
    return [int(ids[j]) for j in np.argsort(-scores, kind="stable")[:k]]


def _compact(store: Store, policy: MergePolicy, force: bool = False, log=lambda m: None) -> list[str]:
    with store.writer() as w:
        return compact(w, policy, force, log)


def test_segmented_search_matches_brute_force(tmp_path: Path):
    rng = np.random.default_rng(1)
    store = Store(tmp_path, nprobe=1024)  # every list probed: IVF is exact too, so results must match
    policy = MergePolicy(flat_max=60, max_deltas=3, delta_share=0.5)
    live: dict[int, np.ndarray] = {}
    n = 0
    for round_ in range(12):
        with store.writer() as w:
            live.update(_add(w, n, 5, rng))
            n += 5
            if round_ % 3 == 2:  # delete a few articles: their vectors become tombstones
                for aid in (f"a{n - 7}", f"a{n - 12}"):
                    for pid in [i for i in live if i // 3 == int(aid[1:])]:  # 3 passages an article
                        live.pop(pid)
                    assert w.delete_article(aid) == 3
        _compact(store, policy)
        snap = store.snapshot()
        assert snap.check(store.segments_dir) == []
        for q in rng.standard_normal((5, DIM)).astype(np.float32):
            q /= np.linalg.norm(q)
            assert [i for i, _ in snap.search_vectors(q, 10)] == _brute(live, q, 10)
        snap.close()
    kinds = {row.kind for row, _ in store.snapshot().segments}
    assert any(k.startswith("IVF") for k in kinds), "the IVF path ran"


@pytest.mark.parametrize("codec", ["Flat", "SQ8"])
def test_a_base_in_parts_finds_exactly_what_one_base_finds(tmp_path: Path, codec: str):
    """Parts share one trained quantizer (and SQ8's trained ranges), so each searched with the same (small)
    nprobe and merged by score gives the one-base result: what lets shards on different machines answer
    like one process."""
    policy = MergePolicy(flat_max=60, max_deltas=3, delta_share=0.5, codec=codec)
    stores = {}
    for parts in (1, 3):
        rng = np.random.default_rng(11)
        store = stores[parts] = Store(tmp_path / f"parts{parts}", nprobe=2)
        for start in (0, 40):
            with store.writer() as w:
                added = _add(w, start, 40, rng)
                deleted = set(sorted(added)[21:24]) if start == 0 else deleted  # a7's passages
            _compact(store, replace(policy, base_parts=parts))
        with store.writer() as w:
            _add(w, 80, 2, rng)  # a delta segment besides the base
            w.delete_article("a7")
    one, three = stores[1].snapshot(), stores[3].snapshot()
    bases = [row for row, _ in three.segments if row.role == "base"]
    assert len(bases) == 3 and all(row.kind.startswith("IVF") and row.kind.endswith(codec) for row in bases)
    assert [row.kind for row, _ in one.segments if row.role == "base"] == [bases[0].kind]
    for row, index in three.segments:
        if row.role == "base":
            ids, _ = seg.segment_vectors(index)
            assert len(set(ids % 3)) == 1, "a part holds the ids of one residue"
    rng = np.random.default_rng(12)
    for q in rng.standard_normal((20, DIM)).astype(np.float32):
        q /= np.linalg.norm(q)
        found = three.search_vectors(q, 10)
        assert [i for i, _ in found] == [i for i, _ in one.search_vectors(q, 10)]
        assert not {i for i, _ in found} & deleted, "the deleted article stays hidden"
        assert len(found) == 10


def test_the_base_is_split_and_joined_again_without_training(tmp_path: Path):
    rng = np.random.default_rng(13)
    store = Store(tmp_path)
    policy = MergePolicy(flat_max=60)
    with store.writer() as w:
        _add(w, 0, 40, rng)
    _compact(store, policy)
    trained = store.snapshot().segments[0][0].kind
    assert trained.startswith("IVF")
    logs: list[str] = []
    assert _compact(store, replace(policy, base_parts=4), log=logs.append) == \
        ["the base is written in 4 part(s), not 1"]
    snap = store.snapshot()
    assert [row.kind for row, _ in snap.segments] == [trained] * 4 and snap.passage_count == 120
    assert "lists kept" in logs[0] and "trained" not in logs[0]
    assert _compact(store, replace(policy, base_parts=4)) == [], "settled: nothing more to merge"
    assert _compact(store, replace(policy, base_parts=4), force=True) == [], "a clean base in parts is compact"
    assert _compact(store, policy) == ["the base is written in 1 part(s), not 4"]
    assert len(store.snapshot().segments) == 1


def test_compaction_drops_deleted_vectors_and_collects_files(tmp_path: Path):
    rng = np.random.default_rng(2)
    store = Store(tmp_path)
    for i in range(4):
        with store.writer() as w:
            _add(w, 10 * i, 10, rng)
    with store.writer() as w:
        for i in range(10):
            w.delete_article(f"a{i}")
    assert len(store.snapshot().hidden) == 30
    reasons = _compact(store, MergePolicy(), force=True)
    snap = store.snapshot()
    assert reasons == ["compaction requested"] and len(snap.segments) == 1
    assert len(snap.hidden) == 0 and snap.segments[0][1].ntotal == 90 == snap.passage_count
    files = {p.name for p in store.segments_dir.iterdir()}
    assert files == {snap.segments[0][0].file}, "merged-away segment files are collected"


def test_bug3_a_reader_keeps_its_segments_through_commits_and_gc(tmp_path: Path):
    """v0.1 kept only generations g and g-1: a slow reader spanning two commits lost its files."""
    rng = np.random.default_rng(3)
    store = Store(tmp_path)
    with store.writer() as w:
        _add(w, 0, 10, rng)
    old = store.snapshot()
    old_files = [row.file for row, _ in old.segments]
    for i in range(3):  # commits, a full compaction, garbage collection after each
        with store.writer() as w:
            _add(w, 100 + 10 * i, 10, rng)
        _compact(store, MergePolicy(), force=True)
    assert all((store.segments_dir / f).exists() for f in old_files), "files a live reader holds stay"
    now = store.snapshot()
    needed = set(old_files) | {row.file for row, _ in now.segments}
    assert {p.name for p in store.segments_dir.iterdir()} == needed, "files no live reader needs go"
    now.close()
    fresh = Store(tmp_path)  # another process loading the old generation's files now
    for row, _ in old.segments:
        assert fresh.load_segment(row).ntotal == row.vectors
    assert old.passage_count == 30 and len(old.search_vectors(np.ones(DIM, np.float32) / 4, 50)) == 30
    old.close()
    with store.writer() as w:
        _add(w, 500, 1, rng)
    assert not any((store.segments_dir / f).exists() for f in old_files), "collected once released"


def test_a_dead_readers_lease_does_not_block_collection(tmp_path: Path):
    import subprocess
    import sys

    rng = np.random.default_rng(4)
    store = Store(tmp_path)
    with store.writer() as w:
        _add(w, 0, 5, rng)
    code = f"import sys; sys.path.insert(0, {str(Path.cwd())!r}); from qa.store import Store; " \
           f"s = Store({str(tmp_path)!r}).snapshot(); import os; os._exit(0)"  # dies holding a lease
    subprocess.run([sys.executable, "-c", code], check=True)
    assert len(list((tmp_path / "leases").glob("*.lease"))) == 1
    first = store.snapshot().segments[0][0].file
    _compact(store, MergePolicy(), force=True)  # nothing to merge: one base
    with store.writer() as w:
        _add(w, 10, 5, rng)
    _compact(store, MergePolicy(), force=True)
    with store.writer() as w:
        _add(w, 20, 1, rng)
    assert not (store.segments_dir / first).exists()
    assert not list((tmp_path / "leases").glob("*.lease")), "the dead reader's lease was removed"


def test_an_sq8_base_finds_what_a_float_base_finds_in_under_half_the_bytes(tmp_path: Path):
    """`qa index --vectors sq8`: the IVF base is re-written with one byte a dimension; the search still finds
    the brute-force neighbours, deleted passages stay hidden, and merges that keep the lists keep the codes."""
    rng = np.random.default_rng(21)
    store = Store(tmp_path, nprobe=1024)  # every list probed: only the codec differs from brute force
    policy = MergePolicy(flat_max=60, delta_share=0.5)
    with store.writer() as w:
        live = _add(w, 0, 2000, rng)
    _compact(store, policy)
    with store.writer() as w:
        w.delete_article("a7")
    for pid in [i for i in live if i // 3 == 7]:
        live.pop(pid)
    (float_row, _), = store.snapshot().segments
    assert _compact(store, replace(policy, codec="SQ8")) == ["the base's vectors are stored as SQ8, not Flat"]
    snap = store.snapshot()
    (row, index), = snap.segments
    assert row.kind == float_row.kind.replace(",Flat", ",SQ8") and row.vectors == len(live)
    assert row.bytes < 0.45 * float_row.bytes
    queries = rng.standard_normal((50, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = []
    for q in queries:
        found = snap.search_vectors(q, 10)
        exact = _brute(live, q, 10)
        assert all(pid in live for pid, _ in found), "the deleted article stays hidden"
        assert all(abs(score - float(live[pid] @ q)) < 0.01 for pid, score in found)
        recall.append(len({pid for pid, _ in found} & set(exact)) / 10)
    assert np.mean(recall) >= 0.95
    ids, decoded = seg.segment_vectors(index)
    assert np.abs(decoded - np.stack([live[int(i)] for i in ids])).max() < 0.01
    with store.writer() as w:
        _add(w, 2000, 1100, rng)  # deltas over half the base: folded into it, on the same lists
    logs: list[str] = []
    assert _compact(store, replace(policy, codec="SQ8"), log=logs.append) == ["3300 delta vectors > 50% of the base"]
    assert "lists kept" in logs[0]
    (again, index), = store.snapshot().segments
    kept_ids, kept = seg.segment_vectors(index)
    order = np.argsort(kept_ids)[np.searchsorted(np.sort(kept_ids), ids)]
    assert again.kind == row.kind and np.array_equal(kept[order], decoded), "decoded and encoded again: same codes"
    assert _compact(store, policy) == ["the base's vectors are stored as Flat, not SQ8"]
    assert store.snapshot().segments[0][0].kind == float_row.kind


def test_bug4_ivf_lists_have_hysteresis():
    """v0.1 flipped the IVF list count at 524,288 passages: one add or delete re-trained k-means."""
    flat_max = 50_000
    at = 524_288
    assert ideal_kind(at - 1, flat_max) != ideal_kind(at + 1, flat_max)
    trained = base_kind(at - 1, flat_max, None)
    assert base_kind(at + 1, flat_max, trained) == trained
    assert base_kind(at - 1, flat_max, base_kind(at + 1, flat_max, None)) == base_kind(at + 1, flat_max, None)
    assert base_kind(16 * at, flat_max, trained) != trained, "far enough away it does re-train"
    assert base_kind(flat_max + 1, flat_max, "Flat").startswith("IVF")
    assert base_kind(flat_max - 1, flat_max, "IVF1024,Flat") == "IVF1024,Flat", "no flip back at the edge"
    assert base_kind(flat_max // 2 - 1, flat_max, "IVF1024,Flat") == "Flat"
    assert base_kind(flat_max - 1, flat_max, "IVF1024,Flat", "SQ8") == "IVF1024,SQ8", "a codec change keeps the list count"


def test_bug4_adding_at_the_boundary_keeps_the_trained_lists(tmp_path: Path):
    rng = np.random.default_rng(5)
    store = Store(tmp_path)
    policy = MergePolicy(flat_max=40, delta_share=0.0)  # every commit folds into the base
    with store.writer() as w:
        _add(w, 0, 20, rng)
    _compact(store, policy)
    base = store.snapshot().segments[0][0]
    assert base.kind.startswith("IVF")
    logs: list[str] = []
    with store.writer() as w:
        _add(w, 100, 1, rng)
        while (plan := plan_merge(w.live_segments(), len(w.tombstones()), policy)) is not None:
            merge(w, plan, policy, log=logs.append)
            w.checkpoint()
    assert store.snapshot().segments[0][0].kind == base.kind
    assert logs and "lists kept" in logs[-1] and "trained" not in logs[-1]


def test_merge_policy_plans():
    from qa.store.schema import SegmentRow

    def s(i: int, role: str, n: int) -> SegmentRow:
        return SegmentRow(i, f"seg-{i}", role, "Flat", n, 0, 0, 1)

    policy = MergePolicy(max_deltas=2, delta_share=0.25, tombstone_share=0.2)
    assert plan_merge([], 0, policy) is None
    assert plan_merge([s(1, "delta", 5)], 0, policy).role == "base"
    assert plan_merge([s(1, "base", 100), s(2, "delta", 10)], 0, policy) is None
    assert plan_merge([s(1, "base", 100), s(2, "delta", 30)], 0, policy).role == "base"
    deltas = plan_merge([s(1, "base", 100)] + [s(i, "delta", 1) for i in (2, 3, 4)], 0, policy)
    assert deltas.role == "delta" and [r.id for r in deltas.inputs] == [2, 3, 4]
    assert plan_merge([s(1, "base", 100)], 30, policy).role == "base"
    assert plan_merge([s(1, "base", 100)], 0, policy, force=True) is None


def test_build_plan_reads_only_what_changed():
    known = {"same.txt": SourceRow("same.txt", 10, 5, None), "changed.txt": SourceRow("changed.txt", 10, 5, None),
             "gone.txt": SourceRow("gone.txt", 1, 1, None), "dup.txt": SourceRow("dup.txt", 3, 3, "same text as x")}
    stats = {"same.txt": [10, 5], "changed.txt": [10, 6], "dup.txt": [3, 3], "new.txt": [1, 2]}
    plan = plan_build(known, stats)
    assert plan.read == ("changed.txt", "new.txt") and plan.gone == ("gone.txt",)
    assert plan.unchanged == ("dup.txt", "same.txt"), "a skipped file is read again only when it changes"
    only = plan_build(known, {"new.txt": [1, 2]}, only={"new.txt", "gone.txt"})
    assert only.read == ("new.txt",) and only.gone == ("gone.txt",) and only.unchanged == ()


def test_keyword_search_stems_and_ignores_syntax(tmp_path: Path):
    rng = np.random.default_rng(6)
    store = Store(tmp_path)
    with store.writer() as w:
        _add(w, 0, 10, rng)
    snap = store.snapshot()
    hits = snap.search_keywords("Which ferries did the LIBRARIES use?", 50)
    texts = [p.text for p in snap.passages([i for i, _ in hits]).values()]
    assert texts and all(("ferry" in t) or ("library" in t) for t in texts)
    for odd in ['"', "AND OR NOT", "*", "a:b", "NEAR(x y)", "' OR 1=1; --", "ünïcödé", ""]:
        snap.search_keywords(odd, 5)  # never an FTS5 syntax error
    assert fts_query(query_words("is it the")) is None
    assert fts_query(query_words('say "hi" NEAR')) == '"say" OR "hi" OR "near"'


def test_keyword_search_sees_only_its_own_generation(tmp_path: Path):
    """Deleted passages stay in the keyword index while an older reader may see them, and newer ones
    are there before this reader's generation has them: neither may take a live passage's place."""
    rng = np.random.default_rng(10)
    store = Store(tmp_path)
    with store.writer() as w:
        _add(w, 0, 40, rng)
    old = store.snapshot()
    with store.writer() as w:
        for i in range(40):
            if i % 10:
                w.delete_article(f"a{i}")
        _add(w, 100, 4, rng)
    new = store.snapshot()
    for snap in (old, new):
        expected = {p.id for a in snap.articles() for p in snap.article_passages(a.id) if "ferry" in p.text}
        assert {i for i, _ in snap.search_keywords("ferries", 1000)} == expected
        top = snap.search_keywords("ferries", 3)
        assert len(top) == 3 and {i for i, _ in top} <= expected
    assert len({p.id for a in new.articles() for p in new.article_passages(a.id) if "ferry" in p.text}) < 12


def test_a_newer_format_is_refused(tmp_path: Path):
    import sqlite3

    from qa.errors import StoreError

    store = Store(tmp_path)
    with store.writer() as w:
        _add(w, 0, 1, np.random.default_rng(7))
    conn = sqlite3.connect(tmp_path / "qa.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer qa"):
        Store(tmp_path).snapshot()


def test_new_passages_are_found_when_tombstones_outnumber_them(tmp_path: Path):
    """Every live passage is found by its own vector, however many deleted ones other segments hide."""
    rng = np.random.default_rng(8)
    store = Store(tmp_path)
    with store.writer() as w:
        _add(w, 0, 30, rng)
    _compact(store, MergePolicy(), force=True)
    with store.writer() as w:
        for i in range(3):
            w.delete_article(f"a{i}")  # 9 tombstones in the base
    with store.writer() as w:
        new = _add(w, 100, 2, rng)  # a 6-vector delta: fewer vectors than tombstones
    snap = store.snapshot()
    assert len(snap.hidden) == 9 and len(snap.segments) == 2
    for pid, vector in new.items():
        assert snap.search_vectors(vector, 5)[0][0] == pid


def test_common_terms_are_left_out_of_keyword_queries(tmp_path: Path):
    rng = np.random.default_rng(9)
    store = Store(tmp_path)
    with store.writer() as w:
        _add(w, 0, 30, rng)  # "part0", "part1", "part2": each in a third of the passages
    _compact(store, MergePolicy(common_share=0.3, common_min_passages=10), force=True)
    snap = store.snapshot()
    assert {"part0", "part1", "part2"} <= snap.common
    texts = [p.text for p in snap.passages([i for i, _ in snap.search_keywords("part0 ferries", 50)]).values()]
    assert texts and all("ferry" in t for t in texts), "the common term no longer matches on its own"
    assert len(snap.search_keywords("part0", 200)) == 30, "a query of common terms only keeps them"


def test_a_reader_that_saw_a_new_database_before_its_writer_set_it_up_does_not_fail(tmp_path: Path, monkeypatch):
    """A reader opening the database in the moment between its creation and the writer's migration saw
    format 0; the writer then holds its transaction (a whole first batch): the reader must not wait for
    it, let alone fail with "database is locked"."""
    from qa.store import schema

    store = Store(tmp_path)
    with store.writer():  # migrated, and holding the write lock
        reader = schema.connect(store.db_path)
        reader.execute("PRAGMA busy_timeout = 200")
        real, seen = schema.user_version, [0]  # what it read before the writer's migration committed
        monkeypatch.setattr(schema, "user_version", lambda conn: seen.pop() if seen else real(conn))
        assert schema.migrate(reader) == schema.FORMAT


def test_vectors_read_by_id_are_those_of_a_full_read_in_every_kind_of_segment(tmp_path: Path):
    """What a moved article's passages take over (Writer.reusable_vectors): the vectors of some ids only,
    equal to what reading the whole segment gives, from a Flat delta, an IVF,Flat base and an SQ8 base."""
    from qa.store import segments as seg

    rng = np.random.default_rng(5)
    store = Store(tmp_path)
    with store.writer() as w:
        _add(w, 0, 2000, rng)
    (row, flat), = store.snapshot().segments
    kinds = [flat]
    for codec in ("Flat", "SQ8"):
        _compact(store, MergePolicy(flat_max=60, codec=codec))
        kinds.append(store.snapshot().segments[0][1])
    assert [seg.nlist_of(i) > 0 for i in kinds] == [False, True, True]  # Flat, IVF,Flat, IVF,SQ8
    for index in kinds:
        ids, vectors = seg.segment_vectors(index)
        wanted = ids[[3, 77, 1500]]
        some_ids, some = seg.segment_vectors(index, only=wanted)
        by_id = dict(zip(ids.tolist(), vectors))
        assert sorted(some_ids.tolist()) == sorted(wanted.tolist())
        for i, v in zip(some_ids.tolist(), some):
            assert np.array_equal(v, by_id[i])
