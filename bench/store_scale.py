"""The store at 1M passages: build time, compaction into an IVF base, then a fresh serving process's
start to first answer, RSS, ask() and keyword-search latency, side by side with the seed corpus alone.

    python bench/store_scale.py                       # 1,000,000 passages (about 10 min, ~5 GB of disk)
    python bench/store_scale.py --passages 100000
    python bench/store_scale.py --work DIR            # keep the built store in DIR; a rerun only serves

The background passages are real text (SQuAD-format paragraphs from ../shared/data, numbered as follow-up
reports past the end of the data) with synthetic vectors (random unit vectors: embedding 1M passages would
take ~11 hours on 2 cores); they are written through the store's own writer, not through a corpus folder.
The two seed articles are chunked and embedded for real, so the seed question has its real answer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SERVE = r"""
import json, statistics, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from qa.config import Settings
from qa.pipeline import Pipeline
questions = json.loads(sys.argv[3])
pipe = Pipeline(Settings.load(corpus_dir=sys.argv[2] + "/no-corpus", index_dir=sys.argv[2]), log=lambda m: None)
first = pipe.ask(questions[0])
start = time.perf_counter() - t0
def rss():
    fields = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
times, kw, dense = [], [], []
snap = pipe.retriever().snapshot
for _ in range(3):
    for q in questions:
        t = time.perf_counter(); pipe.ask(q); times.append(time.perf_counter() - t)
        t = time.perf_counter(); snap.search_keywords(q, 50); kw.append(time.perf_counter() - t)
        v = pipe.embedder.encode([q], progress=False)[0]
        t = time.perf_counter(); snap.search_vectors(v, 50); dense.append(time.perf_counter() - t)
now, peak = rss()
print(json.dumps({"start_to_first_answer_s": start, "first_answer": first.text, "rss_mb": now, "peak_rss_mb": peak,
                  "ask_p50_ms": 1000 * statistics.median(times), "keyword_p50_ms": 1000 * statistics.median(kw),
                  "keyword_p95_ms": 1000 * sorted(kw)[int(0.95 * len(kw))], "dense_p50_ms": 1000 * statistics.median(dense),
                  "index": snap.index_type, "passages": snap.passage_count}))
"""


def build(folder: Path, n: int, data: Path) -> dict:
    import numpy as np

    from index_build import paragraphs
    from qa.ingest.chunking import Chunker
    from qa.config import Settings
    from qa.ingest.files import content_hash, read_corpus, text_digest
    from qa.retrieval.embedding import Embedder
    from qa.reading.weights import load_tokenizer
    from qa.store import ArticleRow, MergePolicy, Store
    from qa.store.compaction import merge, plan_merge
    from qa.records import Article

    s = Settings()
    store = Store(folder)
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    chunker = Chunker(load_tokenizer(s.reader_model), s.passage_tokens, s.passage_overlap)
    items = paragraphs(data, n)  # about 1.2 passages per paragraph: fewer articles than passages
    done, k = 0, 0
    with store.writer(log=lambda m: None) as w:
        while done < n:
            rows, passages = [], []
            while len(passages) < 50_000 and done + len(passages) < n:
                title, text = items[k]
                aid = f"a{k:07d}"
                k += 1
                pieces = chunker.split(Article(aid, title, text))
                first = w.allocate_ids(len(pieces))
                for i, p in enumerate(pieces):
                    p.id = first + i
                w.files.record(f"{aid}.txt", len(text), 0)
                rows.append((ArticleRow(aid, f"{aid}.txt", title, None, None, f"h{aid}"), f"d{aid}"))
                passages.extend(pieces)
            done += len(passages)
            vectors = rng.standard_normal((len(passages), 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            w.add_articles(rows, passages, vectors)
            w.checkpoint()
        embedder = Embedder(s.embedding_model)
        for article in read_corpus(ROOT / "corpus").articles:
            pieces = chunker.split(article)
            first = w.allocate_ids(len(pieces))
            for i, p in enumerate(pieces):
                p.id = first + i
            w.files.record(Path(article.path).name, 1, 0)
            w.add_articles([(ArticleRow(article.id, Path(article.path).name, article.title, None, None,
                                        content_hash(article)), text_digest(article))],
                           pieces, embedder.encode([f"{p.title}\n{p.text}" for p in pieces]))
        w.set("settings", json.dumps({"embedding_model": s.embedding_model}))
    filled = time.perf_counter() - t0
    t1 = time.perf_counter()
    policy = MergePolicy(flat_max=s.flat_max_passages)
    with store.writer(log=lambda m: None) as w:
        plan = plan_merge(w.live_segments(), 0, policy, force=True)
        merge(w, plan, policy, log=print)
    return {"fill_s": filled, "compaction_s": time.perf_counter() - t1}


def serve(folder: Path, questions: list[str], read_mode: str = "adaptive") -> dict:
    env = {**os.environ, "QA_READ_MODE": read_mode}
    out = subprocess.run([sys.executable, "-c", SERVE, str(ROOT), str(folder), json.dumps(questions)],
                         capture_output=True, text=True, timeout=1800, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def seed_index(folder: Path) -> None:
    from qa.config import Settings
    from qa.pipeline import Pipeline

    shutil.copytree(ROOT / "corpus", folder / "corpus")
    Pipeline(Settings.load(corpus_dir=folder / "corpus", index_dir=folder / "index"), log=lambda m: None).build_index()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=1_000_000, help="background passages (about)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/qa/train.json.gz"))
    ap.add_argument("--work", help="folder to build in (default: a temporary one, removed afterwards)")
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in (ROOT / "tests/data/seed_questions.jsonl").open()][:20]
    work = Path(args.work or tempfile.mkdtemp(prefix="qa-scale-"))
    try:
        big = work / "big"
        if not (big / "qa.db").exists():
            times = build(big, args.passages, Path(args.data))
            print(f"{args.passages:,} background passages written in {times['fill_s']:.0f}s; "
                  f"compaction into one base segment: {times['compaction_s']:.0f}s")
        size = sum(p.stat().st_size for p in big.rglob("*") if p.is_file())
        print(f"store on disk: {size / 1e9:.2f} GB")
        shutil.rmtree(work / "seed", ignore_errors=True)
        seed_index(work / "seed")
        for mode in ("adaptive", "full", "adaptive"):  # alternate, so both see the same machine state
            seed = serve(work / "seed" / "index", questions, mode)
            large = serve(big, questions, mode)
            print(json.dumps({"seed": seed, "large": large}, indent=1))
            print(f"[read mode {mode}] ask() p50: {large['ask_p50_ms']:.0f} ms at {large['passages']:,} passages vs "
                  f"{seed['ask_p50_ms']:.0f} ms on the seed corpus = {large['ask_p50_ms'] / seed['ask_p50_ms']:.2f}x; "
                  f"start to first answer {large['start_to_first_answer_s']:.1f}s (seed {seed['start_to_first_answer_s']:.1f}s); "
                  f"RSS {large['rss_mb']:.0f} MB (peak {large['peak_rss_mb']:.0f}); keyword search p50 "
                  f"{large['keyword_p50_ms']:.1f} ms, p95 {large['keyword_p95_ms']:.1f} ms; dense p50 {large['dense_p50_ms']:.1f} ms")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
