"""The store's IVF base with float32 and with SQ8 vectors (`qa index --vectors`), on real embeddings.

    python research/store_vectors.py [--passages 20000] [--questions 1000]

The real paragraphs and questions of research/pq_recall.py (all-MiniLM-L6-v2 vectors, cached in
.cache/pq-recall/), written through the store itself (qa.store: one article per paragraph, then compacted
into one base; `flat_max` set low so that the base is IVF, with the list count the store picks), once
per codec. Printed per codec: the base file's bytes per vector, the memory a non-mapped load adds to a
fresh process, and, per nprobe, recall@5 of exact search, how often the question's own paragraph is in
the top 5 (dense search alone), and the single-query p50 of `Snapshot.search_vectors` (tombstone filter
and all).

A finished study; its findings: research/FINDINGS.md, "Vectors: compressed against exact, and the store's base in SQ8".
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def build(folder: Path, texts: list[str], vectors, codec: str) -> int:
    """One article a paragraph, added in one commit, then merged into one IVF base of `codec`; the id of
    the first paragraph's passage (the others follow in order)."""
    from qa.store import ArticleRow, MergePolicy, Store
    from qa.store.compaction import compact
    from qa.records import Passage

    store = Store(folder)
    with store.writer(log=lambda m: None) as w:
        first = w.allocate_ids(len(texts))
        rows, passages = [], []
        for i, text in enumerate(texts):
            aid = f"p{i:06d}"
            w.files.record(f"{aid}.txt", len(text), 0)
            rows.append((ArticleRow(aid, f"{aid}.txt", aid, None, None, f"h{aid}"), f"d{aid}"))
            passages.append(Passage(first + i, aid, aid, text, 0, len(text)))
        w.add_articles(rows, passages, vectors)
        compact(w, MergePolicy(flat_max=len(texts) // 2, codec=codec), force=True, log=print)
    return first


def measure(folder: Path, queries, own: list[int], exact: list[list[int]], first: int, nprobes: list[int]) -> dict:
    import faiss  # noqa: F401 - loaded before the first reading: its code is not the index's memory

    from qa.store import Store

    before = rss_bytes()
    store = Store(folder, mmap=False)
    snap = store.snapshot()
    (row, _), = snap.segments
    out = {"kind": row.kind, "file_bytes_per_vector": row.bytes / row.vectors, "loaded_bytes_per_vector":
           (rss_bytes() - before) / row.vectors, "by_nprobe": {}}
    for nprobe in nprobes:
        snap.nprobe = nprobe
        found, times = [], []
        for q in queries:
            t = time.perf_counter()
            found.append([pid for pid, _ in snap.search_vectors(q, 5)])
            times.append(time.perf_counter() - t)
        out["by_nprobe"][nprobe] = {
            "recall@5": statistics.mean(len(set(f) & {first + i for i in e}) / 5 for f, e in zip(found, exact)),
            "own@5": statistics.mean(first + o in f for f, o in zip(found, own)),
            "p50_ms": 1000 * statistics.median(times)}
    snap.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=20_000)
    ap.add_argument("--questions", type=int, default=1_000)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[32, 64, 128])
    args = ap.parse_args()

    import faiss

    from pq_recall import embedded, sample

    texts, asked = sample(args.passages, args.questions)
    passages, queries = embedded(texts, [q for q, _ in asked])
    faiss.omp_set_num_threads(1)
    exact_index = faiss.IndexFlatIP(passages.shape[1])
    exact_index.add(passages)
    exact = [[int(i) for i in row] for row in exact_index.search(queries, 5)[1]]
    own = [i for _, i in asked]
    print(f"{len(passages):,} real passages, {len(queries):,} real questions; exact search finds the own "
          f"paragraph in the top 5 for {statistics.mean(o in e for e, o in zip(exact, own)):.3f}")
    print(f"{'base':<14}{'file B/vec':>11}{'loaded B/vec':>13}{'nprobe':>7}{'recall@5':>10}{'own@5':>8}{'p50 ms':>8}")
    for codec in ("Flat", "SQ8"):
        with tempfile.TemporaryDirectory() as tmp:
            first = build(Path(tmp), texts, passages, codec)
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:  # clean heap
                r = fresh.submit(measure, Path(tmp), queries, own, exact, first, args.nprobe).result()
        for nprobe, m in r["by_nprobe"].items():
            print(f"{r['kind']:<14}{r['file_bytes_per_vector']:>11,.0f}{r['loaded_bytes_per_vector']:>13,.0f}{nprobe:>7}"
                  f"{m['recall@5']:>10.3f}{m['own@5']:>8.3f}{m['p50_ms']:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
