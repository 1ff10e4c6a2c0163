"""Hybrid retrieval: dense vector search fused with keyword (BM25) search by reciprocal-rank fusion.

Dense vectors find paraphrases; BM25 finds exact names and numbers, where dense retrieval misses. Both
run against one store snapshot, and only the passages that make the top-k are fetched.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from qa.embedding import Embedder
from qa.store import ArticleRow, Snapshot
from qa.types import RetrievedPassage


DenseSearch = Callable[[Snapshot, np.ndarray, int], list[tuple[int, float]]]


class Retriever:
    """Returns the top-k passages for a question from one index snapshot."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder, candidates: int = 50, rrf_k: int = 60,
                 dense: DenseSearch | None = None) -> None:
        """`dense` searches the snapshot's vectors elsewhere (qa.cluster.shards), with the same results as
        `snapshot.search_vectors`."""
        self.snapshot = snapshot
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense = dense

    def embed(self, question: str) -> np.ndarray:
        return self.embedder.encode([question], progress=False)[0]

    def run(self, question: str, top_k: int = 5, query_vector: Any = None) -> list[RetrievedPassage]:
        """Fuse the dense and keyword rankings: score = sum of 1 / (rrf_k + rank) over both lists."""
        vector = self.embed(question) if query_vector is None else query_vector
        dense = self.dense(self.snapshot, vector, self.candidates) if self.dense else \
            self.snapshot.search_vectors(vector, self.candidates)
        keyword = self.snapshot.search_keywords(question, self.candidates)
        scores: dict[int, float] = {}
        ranks: dict[int, list[int | None]] = {}
        for which, ranking in enumerate((dense, keyword)):
            for rank, (pid, _) in enumerate(ranking, 1):
                scores[pid] = scores.get(pid, 0.0) + 1.0 / (self.rrf_k + rank)
                ranks.setdefault(pid, [None, None])[which] = rank
        best = sorted(scores, key=lambda pid: -scores[pid])[:top_k]
        passages = self.snapshot.passages(best)
        return [RetrievedPassage(passages[pid], scores[pid], dense_rank=ranks[pid][0], bm25_rank=ranks[pid][1])
                for pid in best if pid in passages]

    def articles(self, hits: list[RetrievedPassage]) -> dict[str, ArticleRow]:
        """The articles of these hits, by id (for their URL and date)."""
        ids = sorted({h.passage.article_id for h in hits})
        return {a.id: a for a in self.snapshot.articles(ids)}
