"""Answers on Ray Serve (`qa serve --ray`) with 1 and 2 reader replicas at most, and with the vector
search split over 2 shards, beside one process.

    python bench/ray_serve.py [--clients 8] [--seconds 30] [--cpus 2]

Indexes the seed corpus in a temporary folder, starts a one-machine Ray head on 127.0.0.1
(qa.cluster.local_head), and for `--max-readers` 1 and 2 deploys the "qa" application and has
`--clients` threads POST the seed questions to /ask for `--seconds` (after a warm-up that lets the
autoscaler add replicas). For comparison, the same clients call ask() on one in-process pipeline.
Prints answers/s, latency p50/p95, the reader replicas running at the end, and answers that differ from
the in-process ones; then the dense (vector) search alone, one question at a time, in process vs fanned
out over the 2 shards (what the fan-out adds to a question).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def questions() -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "tests/data/seed_questions.jsonl").read_text().splitlines() if line]
    return [r["question"] for r in rows]


def load(ask: Callable[[str], str | None], qs: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    answers: dict[str, str | None] = {}
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            q = qs[i % len(qs)]
            t0 = time.perf_counter()
            try:
                answers[q] = ask(q)
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            finally:
                i += clients
            latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    if errors:
        print(f"{len(errors)} errors, first: {errors[0]}")
    if not latencies:
        raise SystemExit("no answers")
    return {"per_s": len(latencies) / seconds, "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(0.95 * (len(latencies) - 1))] * 1000, "answers": answers}


def http_ask(url: str) -> Callable[[str], str | None]:
    def ask(q: str) -> str | None:
        req = urllib.request.Request(url, data=json.dumps({"question": q}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())["text"]
    return ask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    from qa.cluster import local_head
    from qa.cluster import serving
    from qa.config import Settings
    from qa.pipeline import Pipeline

    qs = questions()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "corpus", Path(tmp) / "corpus")
        settings = Settings.load(corpus_dir=Path(tmp) / "corpus", index_dir=Path(tmp) / "index", index_shards=2)
        local = Pipeline(settings, log=lambda m: None)
        local.build_index()
        rows = [("one process, ask()", load(lambda q: local.ask(q).text, qs, args.clients, args.seconds), "-")]
        del local
        with local_head(num_cpus=args.cpus) as address:
            for most, shards in ((1, 0), (2, 0), (2, 2)):
                served = serving.deploy(settings, address, http_port=8001, max_readers=most, shards=shards,
                                        shard_cpus=0, log=lambda m: None)
                ask = http_ask("http://127.0.0.1:8001/ask")
                load(ask, qs, args.clients, 20)  # warm-up: the autoscaler sees the load
                name = f"Ray Serve, up to {most} reader(s)" + (f", vectors in {shards} shards" if shards else "")
                rows.append((name, load(ask, qs, args.clients, args.seconds), serving.reader_replicas()))
                if shards:
                    dense = dense_search_ms(Pipeline(settings, log=lambda m: None, **served.parts()), qs)
                serving.undeploy()
        here = dense_search_ms(Pipeline(settings, log=lambda m: None), qs)
    base = rows[0][1]["answers"]
    print(f"{args.clients} clients, {args.seconds:.0f} s each, {len(qs)} seed questions, {args.cpus}-CPU Ray head")
    print("| way | answers/s | p50 ms | p95 ms | reader replicas at the end | answers differing from one process |")
    print("|---|---|---|---|---|---|")
    for name, r, replicas in rows:
        differ = sum(1 for q, a in r["answers"].items() if q in base and base[q] != a)
        print(f"| {name} | {r['per_s']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | {replicas} | {differ} |")
    print(f"dense search of one question, p50 / p95 ms: in process {here[0]:.2f} / {here[1]:.2f}; "
          f"over 2 shards {dense[0]:.2f} / {dense[1]:.2f}")


def dense_search_ms(pipe, qs: list[str], rounds: int = 5) -> tuple[float, float]:
    """p50 and p95 of the vector search alone (the question embedded beforehand), in ms."""
    retriever = pipe.retriever()
    vectors = [retriever.embed(q) for q in qs]
    search = retriever.dense or (lambda snap, v, k: snap.search_vectors(v, k))
    search(retriever.snapshot, vectors[0], retriever.candidates)  # shards fetch their segments
    times = []
    for _ in range(rounds):
        for v in vectors:
            t0 = time.perf_counter()
            search(retriever.snapshot, v, retriever.candidates)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


if __name__ == "__main__":
    main()
