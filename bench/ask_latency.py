"""Index build time, embedding throughput and warm ask() latency on the bundled seed corpus.

Prints numbers; run with `python bench/ask_latency.py` (or `make bench`).
"""

from __future__ import annotations

import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "What do major non-NATO allies receive?",
    "Who is the president of Colombia?",
    "When did Duque meet Biden?",
    "What is the capital of Colombia?",
    "Which countries are major non-NATO allies?",
    "How much aid has the US given Colombia?",
]


def main() -> None:
    from qa.config import Settings
    from qa.pipeline import Pipeline

    work = Path(tempfile.mkdtemp())
    shutil.copytree(ROOT / "corpus", work / "corpus")
    settings = Settings.load(corpus_dir=work / "corpus", index_dir=work / "index")
    pipe = Pipeline(settings, log=lambda m: None)
    pipe.embedder.encode(["warm up"])  # model load is not part of the build time
    report = pipe.build_index()
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores")
    print(f"seed corpus build: {report.passages_total} passages in {report.seconds:.2f}s "
          f"(embedding {report.embed_seconds:.2f}s = {report.passages_total / report.embed_seconds:.1f} passages/s)")
    snap = pipe.retriever().snapshot
    texts = [p.text for a in snap.articles() for p in snap.article_passages(a.id)] * 20
    t = time.perf_counter()
    pipe.embedder.encode(texts, progress=False)
    print(f"embedding throughput: {len(texts) / (time.perf_counter() - t):.1f} passages/s ({len(texts)} passages)")
    pipe.ask(QUESTIONS[0])  # warm: models loaded, index in memory
    totals, parts = [], {k: [] for k in ("embed", "search", "read", "aggregate")}
    for _ in range(5):
        for q in QUESTIONS:
            t = time.perf_counter()
            answer = pipe.ask(q)
            totals.append(time.perf_counter() - t)
            for k in parts:
                parts[k].append(answer.timings[k])
    q = statistics.quantiles(totals, n=20)
    print(f"ask() warm latency over {len(totals)} questions, top-{settings.top_k}: "
          f"p50 {1000 * statistics.median(totals):.0f} ms, p95 {1000 * q[18]:.0f} ms")
    print("  breakdown (p50): " + ", ".join(f"{k} {1000 * statistics.median(v):.1f} ms" for k, v in parts.items()))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
