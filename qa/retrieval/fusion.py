"""Reciprocal-rank fusion (Cormack et al. 2009): rankings from several retrievers merged by
score = sum of 1 / (rrf_k + rank) over the rankings a passage appears in. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Fused:
    """A passage id with its fused score and its rank in each input ranking (None: absent from it)."""

    passage_id: int
    score: float
    ranks: tuple[int | None, ...]


def fuse(rankings: Sequence[Sequence[tuple[int, float]]], top_k: int, rrf_k: int = 60) -> list[Fused]:
    """The `top_k` best passages of the rankings ((passage id, score), best first), best first; ties keep
    the order in which passages were first met."""
    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    for which, ranking in enumerate(rankings):
        for rank, (pid, _) in enumerate(ranking, 1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (rrf_k + rank)
            ranks.setdefault(pid, [None] * len(rankings))[which] = rank
    best = sorted(scores, key=lambda pid: -scores[pid])[:top_k]
    return [Fused(pid, scores[pid], tuple(ranks[pid])) for pid in best]
