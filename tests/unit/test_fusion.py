"""Reciprocal-rank fusion against the formula computed the obvious way."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qa.retrieval.fusion import fuse

rankings = st.lists(st.integers(0, 30), unique=True, max_size=20).map(lambda ids: [(i, 0.0) for i in ids])


@given(st.lists(rankings, min_size=1, max_size=3), st.integers(1, 10), st.integers(0, 100))
def test_fusion_scores_are_the_sum_of_reciprocal_ranks(lists, top_k, rrf_k):
    fused = fuse(lists, top_k, rrf_k)
    expected = {}
    for ranking in lists:
        for rank, (pid, _) in enumerate(ranking, 1):
            expected[pid] = expected.get(pid, 0.0) + 1 / (rrf_k + rank)
    assert len(fused) == min(top_k, len(expected))
    assert [f.score for f in fused] == sorted((f.score for f in fused), reverse=True)
    for f in fused:
        assert abs(f.score - expected[f.passage_id]) < 1e-12
        assert all(r is None or lists[i][r - 1][0] == f.passage_id for i, r in enumerate(f.ranks))
    left_out = set(expected) - {f.passage_id for f in fused}
    assert all(expected[p] <= fused[-1].score + 1e-12 for p in left_out)
