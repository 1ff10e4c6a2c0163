"""Indexing throughput on a Ray cluster with 1 and 2 worker processes (replicas), beside a local build.

    python bench/ray_index.py [--articles 600] [--cpus 2]

Starts a one-machine Ray head on 127.0.0.1 (qa.cluster.local_head, `--cpus` CPUs), writes `--articles`
XQuAD paragraphs (bench/data/xquad-dev.json, cycled with a number added when more are asked for) as
.txt files, and builds a fresh index of them three ways: in this process (qa index), and with
`--ray` and 1 and 2 replicas. Prints, per way: replica start (model load), the build (read and split on
the replicas, embed, commit), passages/s of the build, and the answer to one question from each index.
On a GPU node the replicas take a GPU each (`--replicas` defaults to the GPU count).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

XQUAD = ROOT / "bench/data/xquad-dev.json"


def write_articles(folder: Path, count: int) -> None:
    data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    paragraphs = [(a["title"].replace("_", " "), p["context"]) for a in data for p in a["paragraphs"]]
    folder.mkdir(parents=True)
    for n in range(count):
        title, text = paragraphs[n % len(paragraphs)]
        copy = f" (copy {n // len(paragraphs)})" if n >= len(paragraphs) else ""
        (folder / f"x{n:05d}.txt").write_text(f"{title} {n}\n\n{text}{copy}\n", encoding="utf-8")


def build(corpus: Path, index: Path, address: str | None, replicas: int | None) -> dict:
    from qa.config import Settings
    from qa.pipeline import Pipeline

    settings = Settings.load(corpus_dir=corpus, index_dir=index)
    t0 = time.perf_counter()
    embedder = None
    if address:
        from qa.cluster.index_workers import RayEmbedder

        embedder = RayEmbedder(settings.embedding_model, address, replicas, log=lambda m: None)
        embedder.worker_pids()  # wait until every replica has loaded its model
    pipe = Pipeline(settings, log=lambda m: None, embedder=embedder)
    if address:
        from qa.cluster.index_workers import RayReadAhead

        pipe.indexer.read_ahead = RayReadAhead(embedder, pipe.indexer.chunker, settings.max_article_bytes,
                                               log=lambda m: None)
    else:
        pipe.embedder.encode(["warm-up"])
    started = time.perf_counter() - t0
    t1 = time.perf_counter()
    report = pipe.build_index()
    seconds = time.perf_counter() - t1
    answer = pipe.ask("What is the name of a Bodhisattva vow?")
    return {"start_s": started, "build_s": seconds, "passages": report.passages_total,
            "passages_per_s": report.passages_total / seconds, "embed_s": report.embed_seconds,
            "answer": answer.text}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=600)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    from qa.cluster import local_head

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        write_articles(corpus, args.articles)
        print(f"{args.articles} articles; machine: {os.cpu_count()} cores")
        rows = [("local (this process)", build(corpus, Path(tmp) / "local", None, None))]
        with local_head(num_cpus=args.cpus) as address:
            for replicas in (1, 2):
                rows.append((f"Ray, {replicas} replica(s)",
                             build(corpus, Path(tmp) / f"ray{replicas}", address, replicas)))
    print("| way | start (model load) s | build s | passages | passages/s | embedding s | answer |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['start_s']:.1f} | {r['build_s']:.1f} | {r['passages']} | {r['passages_per_s']:.1f} "
              f"| {r['embed_s']:.1f} | {r['answer']} |")


if __name__ == "__main__":
    main()
