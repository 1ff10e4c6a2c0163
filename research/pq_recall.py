"""Compressed vectors on real embeddings: what IVF-PQ and SQ8 cost in recall, against exact search.

    python research/pq_recall.py [--passages 20000] [--questions 1000] [--lists N] [--nprobe 32 [128 ...]]

Real paragraphs (SQuAD-format training data in ../shared/data/qa/train.json.gz, one vector per unique
paragraph) and real questions on them, embedded with the product's embedder (all-MiniLM-L6-v2; the
vectors are cached in .cache/pq-recall/, so a rerun only searches). For each FAISS index — exact (Flat),
IVF-Flat as the store writes it, IVF-PQ with 48 and 96 one-byte codes, IVF-PQ48 whose hits are re-ranked
with the float vectors (RFlat: 8 x k candidates; the floats could stay on disk), IVF-SQ8 — printed: bytes per
vector (code + id; and the file: the serialized index over the count, centroids and codebooks included), recall@5 and @10 of the exact neighbours, how often
the question's own paragraph is in the top 5 (dense search alone), and the single-query latency p50.
At this size the neighbours are sparser than in a 10M archive; the recall lost to compression is a
property of the codes, the one to IVF's probing grows with the archive (bench/scale.py measures that).

A finished study; its findings: research/FINDINGS.md, "Vectors: compressed against exact, and the store's base in SQ8".
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared/data/qa/train.json.gz"
CACHE = ROOT / ".cache/pq-recall"


def sample(n_passages: int, n_questions: int) -> tuple[list[str], list[tuple[str, int]]]:
    """Unique paragraphs (seeded sample) and questions about them: (question, its paragraph's row)."""
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        articles = json.load(fh)["data"]
    paragraphs: dict[str, list[str]] = {}
    for a in articles:
        for p in a["paragraphs"]:
            paragraphs.setdefault(p["context"], []).extend(q["question"] for q in p["qas"])
    rng = random.Random(3)
    texts = rng.sample(sorted(paragraphs), min(n_passages, len(paragraphs)))
    asked = [(q, i) for i, t in enumerate(texts) for q in paragraphs[t][:1]]
    return texts, rng.sample(asked, min(n_questions, len(asked)))


def embedded(texts: list[str], questions: list[str]) -> tuple[object, object]:
    import numpy as np

    from qa.config import Settings
    from qa.retrieval.embedding import Embedder

    key = CACHE / f"{len(texts)}-{len(questions)}.npz"
    if key.is_file():
        cached = np.load(key)
        return cached["passages"], cached["questions"]
    embedder = Embedder(Settings().embedding_model)
    t = time.perf_counter()
    passages = embedder.encode(texts).astype("float32")
    print(f"embedded {len(texts):,} passages in {time.perf_counter() - t:.0f} s", flush=True)
    queries = embedder.encode(questions).astype("float32")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(key, passages=passages, questions=queries)
    return passages, queries


def measure(factory: str, passages, queries, own: list[int], exact, nprobe: int) -> dict[str, float]:
    import faiss
    import numpy as np

    index = faiss.index_factory(passages.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.extract_index_ivf(index) if factory.startswith("IVF") else None
    if ",PQ" in factory:  # on by default, minutes of training for a Hamming filter these searches never use
        faiss.downcast_index(ivf).do_polysemous_training = False
    if factory.endswith(",RFlat"):  # re-rank 8 x k compressed hits with the float vectors
        faiss.downcast_index(index).k_factor = 8
    index.train(passages)
    index.add(passages)
    if ivf:
        ivf.nprobe = nprobe
    size = len(faiss.serialize_index(index))
    per_vector = ivf.code_size + 8 if ivf else index.code_size  # the code + its id in the inverted list
    if factory.endswith(",RFlat"):
        per_vector += 4 * passages.shape[1]  # and the float vector it re-ranks with
    found, times = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q[None, :], 10)
        times.append(time.perf_counter() - t)
        found.append(ids[0])
    found = np.asarray(found)
    recall = {k: float(np.mean([len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact)])) for k in (5, 10)}
    return {"bytes_per_vector": size / len(passages), "code_bytes": per_vector, "recall@5": recall[5], "recall@10": recall[10],
            "own_paragraph@5": float(np.mean([o in f[:5] for f, o in zip(found, own)])),
            "p50_ms": 1000 * statistics.median(times)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=20_000)
    ap.add_argument("--questions", type=int, default=1_000)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[32], help="lists probed (each value: one table)")
    ap.add_argument("--lists", type=int, help="IVF lists (default: as the store picks for this many passages)")
    args = ap.parse_args()

    import faiss
    import numpy as np

    texts, asked = sample(args.passages, args.questions)
    passages, queries = embedded(texts, [q for q, _ in asked])
    own = [i for _, i in asked]
    faiss.omp_set_num_threads(1)
    exact_index = faiss.IndexFlatIP(passages.shape[1])
    exact_index.add(passages)
    exact = exact_index.search(queries, 10)[1]
    nlist = args.lists or int(2 ** round(np.log2(4 * np.sqrt(len(passages)))))  # as qa.store.segments picks
    for nprobe in args.nprobe:
        print(f"{len(passages):,} passages, {len(queries):,} questions, dim {passages.shape[1]}, nprobe {nprobe}, "
              "one thread")
        print(f"{'index':<22}{'code+id B':>10}{'file B/vector':>14}{'recall@5':>10}{'recall@10':>11}{'own@5':>8}{'p50 ms':>8}")
        for factory in ("Flat", f"IVF{nlist},Flat", f"IVF{nlist},SQ8", f"IVF{nlist},PQ96", f"IVF{nlist},PQ48",
                        f"IVF{nlist},PQ48,RFlat"):
            r = measure(factory, passages, queries, own, exact, nprobe)
            print(f"{factory:<22}{r['code_bytes']:>10,}{r['bytes_per_vector']:>14,.0f}{r['recall@5']:>10.3f}"
                  f"{r['recall@10']:>11.3f}{r['own_paragraph@5']:>8.3f}{r['p50_ms']:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
