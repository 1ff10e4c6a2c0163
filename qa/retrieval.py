"""Hybrid retrieval: dense vector search fused with keyword (BM25) search by reciprocal-rank fusion.

Dense vectors find paraphrases; BM25 finds exact names and numbers, where dense retrieval misses. Both
run against one store snapshot, and only the passages that make the top-k are fetched.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from qa.embedding import Embedder
from qa.store import ArticleRow, Snapshot
from qa.types import RetrievedPassage


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _keyword_pool() -> ThreadPoolExecutor:
    """Threads for keyword searches, shared by every retriever (one per snapshot would leak them)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="qa-keywords")
        return _pool


class Retriever:
    """Returns the top-k passages for a question from one index snapshot."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder, candidates: int = 50, rrf_k: int = 60) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k

    def embed(self, question: str) -> np.ndarray:
        return self.embedder.encode([question], progress=False)[0]

    def run(self, question: str, top_k: int = 5) -> list[RetrievedPassage]:
        """Fuse the dense and keyword rankings: score = sum of 1 / (rrf_k + rank) over both lists.
        The keyword search runs in a worker thread while the question is embedded and the vectors
        searched (SQLite, torch and FAISS all release the GIL): at 1M passages it is the slower half."""
        keyword_search = _keyword_pool().submit(self.snapshot.search_keywords, question, self.candidates)
        dense = self.snapshot.search_vectors(self.embed(question), self.candidates)
        keyword = keyword_search.result()
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
