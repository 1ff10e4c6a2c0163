"""Hybrid retrieval: dense vector search fused with keyword (BM25) search by reciprocal-rank fusion.

Dense vectors find paraphrases; BM25 finds exact names and numbers, where dense retrieval misses. Both
run against one store snapshot, and only the passages that make the top-k are fetched.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from qa.records import RetrievedPassage, Scope
from qa.retrieval.embedding import TextEncoder
from qa.retrieval.fusion import fuse
from qa.store import ArticleRow, Snapshot

DenseSearch = Callable[[Snapshot, np.ndarray, int], list[tuple[int, float]]]


class Retriever:
    """Returns the top-k passages for a question from one index snapshot."""

    def __init__(self, snapshot: Snapshot, embedder: TextEncoder, candidates: int = 50, rrf_k: int = 60,
                 dense: DenseSearch | None = None) -> None:
        """`dense` searches the snapshot's vectors elsewhere (qa.cluster.shards), with the same results as
        `snapshot.search_vectors`."""
        self.snapshot = snapshot
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense = dense

    def embed(self, question: str) -> np.ndarray:
        return self.embedder.encode_query(question)

    def run(self, question: str, top_k: int = 5, query_vector: Any = None,
            scope: Scope | None = None) -> list[RetrievedPassage]:
        """The dense and keyword rankings (each `candidates` deep), fused (qa.retrieval.fusion); with a
        `scope`, among the passages of the articles it names only."""
        vector = self.embed(question) if query_vector is None else query_vector
        among = self.snapshot.passages_in(scope) if scope else None
        if among is not None and not len(among):
            return []
        if among is not None or not self.dense:
            dense = self.snapshot.search_vectors(vector, self.candidates, among)
        else:
            dense = self.dense(self.snapshot, vector, self.candidates)
        keyword = self.snapshot.search_keywords(question, self.candidates, among)
        best = fuse((dense, keyword), top_k, self.rrf_k)
        passages = self.snapshot.passages([f.passage_id for f in best])
        return [RetrievedPassage(passages[f.passage_id], f.score, dense_rank=f.ranks[0], bm25_rank=f.ranks[1])
                for f in best if f.passage_id in passages]

    def articles(self, hits: list[RetrievedPassage]) -> dict[str, ArticleRow]:
        """The articles of these hits, by id (for their URL and date)."""
        ids = sorted({h.passage.article_id for h in hits})
        return {a.id: a for a in self.snapshot.articles(ids)}
