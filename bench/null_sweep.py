"""Where should a reader say "no answer"? Its null threshold swept through ask(), on every question set
at once, so that a reader's abstention bias is chosen by measurement and not by training alone.

    python bench/null_sweep.py [--readers qa/models/reader,OTHER] [--thresholds -3,-2,-1,0,1] [--rows OUT.json]

Each question is asked once per reader, open-domain, top-5, all five passages read, with the null
threshold at -inf: every candidate span is kept with its margin over its window's null score (see
qa.reading.reader) and whether its article names the question's names and numbers (qa.reading.evidence, the default
check). For a threshold t the served answer is then the best-ranked supported span whose margin beats t
(exactly what `QA_NULL_THRESHOLD=t` serves with a full read, unless all 20 kept candidates fall below t).
The sets:
- "xquad": 300 of XQuAD's answerable questions (the sample of `qa eval bench/data/xquad-dev.json --limit
  300`), its 48 articles indexed; none trained on by any of our readers.
- "near miss": 300 XQuAD questions with one name or number swapped for one their article never
  mentions (bench/near_miss.py), and their originals, over the same index.
- "tuning": the tuning split of qa.training.tune (400 answerable + 400 real adversarial
  unanswerables; in-sample for the shipped reader, which trained on those articles).
- "seed": tests/data/seed_questions.jsonl against corpus/.
Prints answerable F1 and "no answer" rates per set and threshold. `qa tune-reader --null-threshold T --why
"..."` then records the chosen T in the reader's qa_reader.json (what the Reader uses unless
QA_NULL_THRESHOLD says otherwise).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from near_miss import XQUAD, near_misses  # noqa: E402  (same folder)

SEED_QUESTIONS = ROOT / "tests/data/seed_questions.jsonl"


def question_sets(work: Path) -> dict[str, tuple[Path, list[dict[str, Any]]]]:
    """Set name -> (corpus folder, question rows)."""
    from qa.training.evaluate import load_squad, read_questions, squad_to_corpus
    from qa.training.tune import sample_questions, tuning_split

    xquad_rows = [asdict(r) for r in squad_to_corpus(XQUAD, work / "xquad")]
    sample = random.Random(0).sample(xquad_rows, 300)
    rng = random.Random(13)
    pairs = near_misses(load_squad(XQUAD), rng)
    rng.shuffle(pairs)
    golds = {r["question"]: r["answers"] for r in xquad_rows}
    near = []
    for q, miss in pairs[:300]:
        near += [{"question": q, "answers": golds[q], "answerable": True},
                 {"question": miss, "answers": [], "answerable": False}]

    articles = tuning_split()
    (work / "tuning.json").write_text(json.dumps({"data": articles}), encoding="utf-8")
    squad_to_corpus(work / "tuning.json", work / "tuning")
    tuning = [asdict(r) for r in sample_questions(articles, 400)]
    seed = [asdict(r) for r in read_questions(SEED_QUESTIONS)]
    return {"xquad": (work / "xquad", sample), "near miss": (work / "xquad", near),
            "tuning": (work / "tuning", tuning), "seed": (ROOT / "corpus", seed)}


def candidates(pipe: Any, question: str) -> list[dict[str, Any]]:
    """Every candidate span of a full read, best first: text, margin, and whether the evidence check keeps it."""
    retriever = pipe.retriever()
    hits = retriever.run(question, pipe.settings.top_k)
    spans = pipe.read(question, hits)
    kept = {id(s) for s in pipe.supported(question, hits, spans, retriever)}
    return [{"text": s.text, "margin": round(s.margin, 3), "supported": id(s) in kept} for s in spans]


def served(cands: list[dict[str, Any]], threshold: float, check: bool) -> str | None:
    for c in cands:
        if c["margin"] > threshold and (c["supported"] or not check):
            return c["text"]
    return None


def sweep(rows: list[dict[str, Any]], thresholds: list[float], check: bool) -> list[dict[str, float]]:
    from qa.training.metrics import best_scores

    out = []
    for t in thresholds:
        has = [best_scores(served(r["candidates"], t, check), r["answers"])[1] for r in rows if r["answerable"]]
        no = [served(r["candidates"], t, check) is None for r in rows if not r["answerable"]]
        out.append({"threshold": t, "answerable_f1": 100 * sum(has) / len(has) if has else None,
                    "no_answer": 100 * sum(no) / len(no) if no else None})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readers", default="qa/models/reader")
    ap.add_argument("--thresholds", default="-4,-3,-2.5,-2,-1.5,-1,-0.5,0,0.5,1,2")
    ap.add_argument("--rows", help="write every question's candidates as JSON here")
    args = ap.parse_args()

    from qa.config import Settings
    from qa.pipeline import Pipeline

    thresholds = [float(t) for t in args.thresholds.split(",")]
    work = Path(tempfile.mkdtemp(prefix="qa-sweep-"))
    dumped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        sets = question_sets(work)
        for reader in args.readers.split(","):
            dumped[reader] = {}
            for name, (corpus, rows) in sets.items():
                index = work / f"index-{corpus.name}"
                settings = Settings.load(corpus_dir=corpus, index_dir=index, reader_model=reader,
                                         read_mode="full", null_threshold=float("-inf"))
                pipe = Pipeline(settings, log=lambda m: None)
                pipe.ensure_index()
                answered = [{**r, "candidates": candidates(pipe, r["question"])} for r in rows]
                dumped[reader][name] = answered
                print(f"\n== {reader}: {name} ({sum(r['answerable'] for r in rows)} answerable, "
                      f"{sum(not r['answerable'] for r in rows)} unanswerable)", flush=True)
                for check in (False, True):
                    line = " | ".join(
                        f"{s['threshold']:+g}: " + ", ".join(
                            x for x in (f"F1 {s['answerable_f1']:.1f}" if s["answerable_f1"] is not None else "",
                                        f"NA {s['no_answer']:.1f}%" if s["no_answer"] is not None else "") if x)
                        for s in sweep(answered, thresholds, check))
                    print(f"evidence check {'names' if check else 'off  '}: {line}", flush=True)
        if args.rows:
            Path(args.rows).write_text(json.dumps(dumped, indent=1), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
