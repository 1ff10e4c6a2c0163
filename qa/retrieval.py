"""Hybrid retrieval: dense FAISS search fused with BM25 by reciprocal-rank fusion.

Dense vectors find paraphrases; BM25 finds exact names and numbers, where dense retrieval misses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qa.embedding import Embedder
from qa.index import IndexSnapshot
from qa.types import RetrievedPassage


class KeywordIndex:
    """BM25 over the passages of one index snapshot (English stop words removed, Snowball stemming)."""

    def __init__(self, ids: list[int], texts: list[str]) -> None:
        import bm25s
        import Stemmer
        from bm25s.tokenization import Tokenizer

        self.ids = ids
        self.tokenizer = Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"))
        self.bm25 = bm25s.BM25()
        if texts:
            tokens = self.tokenizer.tokenize(texts, return_as="ids", show_progress=False)
            self.bm25.index(tokens, show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(passage id, BM25 score) of up to k passages sharing a term with the query."""
        if not self.ids or k <= 0:
            return []
        q = self.tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)
        empty = self.tokenizer.word_to_id.get("", -1)
        if not [t for t in q[0] if t != empty]:
            return []
        docs, scores = self.bm25.retrieve(q, k=min(k, len(self.ids)), show_progress=False, n_threads=1)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]


class Retriever:
    """Returns the top-k passages for a question from one index snapshot."""

    def __init__(self, snapshot: IndexSnapshot, embedder: Embedder, candidates: int = 50, rrf_k: int = 60,
                 nprobe: int = 32) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        ids = list(snapshot.passages)
        self.keywords = KeywordIndex(ids, [snapshot.passages[i].text for i in ids])
        self.timings: dict[str, float] = {}

    def embed(self, question: str) -> np.ndarray:
        return self.embedder.encode([question], progress=False)[0]

    def run(self, question: str, top_k: int = 5, query_vector: Any = None) -> list[RetrievedPassage]:
        """Fuse the dense and keyword rankings: score = sum of 1 / (rrf_k + rank) over both lists."""
        vector = self.embed(question) if query_vector is None else query_vector
        dense = self.snapshot.search(vector, self.candidates)
        keyword = self.keywords.search(question, self.candidates)
        fused: dict[int, RetrievedPassage] = {}
        for rank, (pid, _) in enumerate(dense, 1):
            fused[pid] = RetrievedPassage(self.snapshot.passages[pid], 1.0 / (self.rrf_k + rank), dense_rank=rank)
        for rank, (pid, _) in enumerate(keyword, 1):
            hit = fused.setdefault(pid, RetrievedPassage(self.snapshot.passages[pid], 0.0))
            hit.score += 1.0 / (self.rrf_k + rank)
            hit.bm25_rank = rank
        return sorted(fused.values(), key=lambda h: -h.score)[:top_k]
