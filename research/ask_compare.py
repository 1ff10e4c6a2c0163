"""Warm ask() latency of v0.1 and of this code, side by side in one run, on the seed corpus.

    python research/ask_compare.py --baseline /work/v01          # a checkout of v0.1 (commit 75aa433)

Each variant runs in its own process (imports `qa` from its own folder, builds its own index of the
seed corpus, loads its models once); the processes take turns question by question: every variant
asks one seed question (tests/data/seed_questions.jsonl) while the others wait, so they never compete
for the cores and all see the same load from anything else on the machine. Prints per-variant p50/p95,
the p50 ratio against v0.1 (and the median of per-question ratios, which is less sensitive to load
that comes and goes), and how many answers differ from v0.1's.

A finished study; its findings: bench/RESULTS.md, "Reading faster".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_QUESTION = "What do major non-NATO allies receive?"
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "tests/data/seed_questions.jsonl").open()
             if line.strip()]
# name -> (code folder: None = the baseline, environment overrides)
VARIANTS = {
    "v0.1": (None, {}),
    "now (default)": (ROOT, {}),
    "now, fp32, adaptive": (ROOT, {"QA_READER_PRECISION": "fp32"}),
    "now, bf16, full read": (ROOT, {"QA_READ_MODE": "full"}),
    "now, v0.1 settings": (ROOT, {"QA_READER_PRECISION": "fp32", "QA_READ_MODE": "full"}),
}


def worker(corpus: Path) -> None:
    """Serve on stdin/stdout: build the index and warm up, then for each question line ask it and print
    one JSON line with the latency (seconds) and the answer."""
    sys.path.insert(0, os.getcwd())
    from qa.config import Settings
    from qa.pipeline import Pipeline

    work = Path(tempfile.mkdtemp())
    try:
        pipe = Pipeline(Settings.load(corpus_dir=corpus, index_dir=work / "index"), log=lambda m: None)
        for q in QUESTIONS[:3]:  # warm: models loaded, index built and in memory
            pipe.ask(q)
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            t = time.perf_counter()
            text = pipe.ask(json.loads(line)).text
            print(json.dumps({"seconds": time.perf_counter() - t, "answer": text}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def start(code: Path, env: dict[str, str], corpus: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(corpus)], cwd=code,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **env})
    json.loads(proc.stdout.readline())  # wait until it is warm
    return proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, default=ROOT.parent / "v01", help="checkout of v0.1")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker)
    import torch

    print(f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"{args.rounds} rounds of the {len(QUESTIONS)} seed questions, variants taking turns")
    corpus = Path(tempfile.mkdtemp()) / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    procs = {name: start(code or args.baseline, env, corpus) for name, (code, env) in VARIANTS.items()}
    times: dict[str, list[float]] = {name: [] for name in procs}
    answers: dict[str, dict[str, str | None]] = {name: {} for name in procs}
    try:
        for _ in range(args.rounds):
            for q in QUESTIONS:
                for name, proc in procs.items():
                    proc.stdin.write(json.dumps(q) + "\n")
                    proc.stdin.flush()
                    reply = json.loads(proc.stdout.readline())
                    times[name].append(reply["seconds"])
                    answers[name][q] = reply["answer"]
    finally:
        for proc in procs.values():
            proc.stdin.close()
            proc.wait()
        shutil.rmtree(corpus.parent, ignore_errors=True)
    base = times["v0.1"]
    for name, ts in times.items():
        p50, p95 = statistics.median(ts), sorted(ts)[int(0.95 * len(ts))]
        ratio = statistics.median(b / t for b, t in zip(base, ts))
        differ = sum(a != answers["v0.1"][q] for q, a in answers[name].items())
        print(f"{name:22s} p50 {1000 * p50:6.1f} ms  p95 {1000 * p95:6.1f} ms  {statistics.median(base) / p50:4.2f}x "
              f"v0.1's p50 (per-question median {ratio:4.2f}x); seed answer {answers[name][SEED_QUESTION]!r}, "
              f"{differ} of {len(QUESTIONS)} answers differ from v0.1")


if __name__ == "__main__":
    main()
