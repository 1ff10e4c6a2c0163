"""Follow-up questions: F1 of conversations through ask() with history, against other ways of using the
history, and the latency of a follow-up against a first question.

Prints numbers; run with `python bench/conversations.py [--split dev|holdout|all] [--approaches ...]`.
Data: tests/data/conversations.jsonl (40 conversations over the seed articles; c01-c20 were used while
writing the resolver, c21-c40 were held out).

Approaches (each conversation's history is the answers that approach itself gave):
  alone    every question asked as if it were the first (today's chat)
  concat   previous question + previous answer + question, as one question to retrieval and reader
  expand   retrieval searches with question + previous question + answer; the reader gets the question
  rewrite+expand  the resolver's standalone question to the reader; retrieval searches with it plus the
           previous question and answer
  ask      ask(question, history): the resolver's standalone question to retrieval and reader (chosen)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data" / "conversations.jsonl"
APPROACHES = ("alone", "concat", "expand", "rewrite+expand", "ask")


def load(split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def read_with(pipe: Any, asked: str, reader_question: str, search_query: str) -> Any:
    """ask()'s retrieve-and-read steps with a given reader question and search query."""
    from qa.reading.answers import build_answer

    pipe.ensure_index()
    retriever = pipe.retriever()
    hits = retriever.run(search_query, pipe.settings.top_k)
    spans = pipe.supported(reader_question, hits, pipe.read(reader_question, hits), retriever)
    answer = build_answer(asked, hits, spans, retriever.articles(hits))
    answer.resolved_question = reader_question
    return answer


def answer_turn(pipe: Any, approach: str, question: str, history: list[Any]) -> Any:
    from qa.conversation.followups import resolve

    if approach == "ask":
        return pipe.ask(question, history=history)
    if approach == "alone" or not history:
        return pipe.ask(question)
    last = history[-1]
    previous = " ".join(p for p in (last.resolved_question or last.question, last.text) if p)
    if approach == "concat":
        return read_with(pipe, question, f"{previous} {question}", f"{previous} {question}")
    if approach == "expand":
        return read_with(pipe, question, question, f"{question} {previous}")
    understood = resolve(question, history)
    search = f"{understood.question} {previous}" if understood.followup else understood.question
    return read_with(pipe, question, understood.question, search)


def run(pipe: Any, conversations: list[dict[str, Any]], approach: str) -> dict[str, Any]:
    from qa.training.metrics import best_scores

    first, follow, first_ms, follow_ms, misses = [], [], [], [], []
    for conv in conversations:
        history: list[Any] = []
        for n, turn in enumerate(conv["turns"]):
            t0 = time.perf_counter()
            answer = answer_turn(pipe, approach, turn["question"], history)
            ms = 1000 * (time.perf_counter() - t0)
            _, f1 = best_scores(answer.text, turn["answers"])
            (follow if n else first).append(f1)
            (follow_ms if n else first_ms).append(ms)
            if n and f1 < 1:
                misses.append(f"{conv['id']} {turn['question']!r} -> {answer.resolved_question!r}: "
                              f"{answer.text!r} (gold {turn['answers'][:1]}) F1 {100 * f1:.0f}")
            history.append(answer)
    return {"first_f1": 100 * statistics.mean(first), "followup_f1": 100 * statistics.mean(follow),
            "first": len(first), "followups": len(follow), "first_ms": statistics.median(first_ms),
            "followup_ms": statistics.median(follow_ms), "misses": misses}


def latency(pipe: Any, conversations: list[dict[str, Any]], rounds: int) -> tuple[float, float, float]:
    """Median ms of a first question and of a follow-up with its history, timed alternately (so that
    load from other processes falls on both alike), and the resolver's own median ms."""
    from qa.conversation.followups import resolve

    pairs = []
    for conv in conversations:
        history = [pipe.ask(conv["turns"][0]["question"])]
        for turn in conv["turns"][1:]:
            pairs.append((conv["turns"][0]["question"], turn["question"], list(history)))
            history.append(pipe.ask(turn["question"], history=history))
    first, follow, resolver = [], [], []
    for _ in range(rounds):
        for question, followup, history in pairs:
            t0 = time.perf_counter()
            pipe.ask(question)
            t1 = time.perf_counter()
            pipe.ask(followup, history=history)
            t2 = time.perf_counter()
            resolve(followup, history)
            first.append(t1 - t0), follow.append(t2 - t1), resolver.append(time.perf_counter() - t2)
    return tuple(1000 * statistics.median(v) for v in (first, follow, resolver))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="all", choices=("dev", "holdout", "all"))
    ap.add_argument("--approaches", nargs="+", default=list(APPROACHES), choices=APPROACHES)
    ap.add_argument("--misses", action="store_true", help="print the follow-up turns with F1 < 1")
    ap.add_argument("--latency-rounds", type=int, default=1, help="rounds of the alternating latency test (0: skip)")
    args = ap.parse_args()
    from qa.config import Settings
    from qa.pipeline import Pipeline

    work = Path(tempfile.mkdtemp())
    try:
        shutil.copytree(ROOT / "corpus", work / "corpus")
        pipe = Pipeline(Settings.load(corpus_dir=work / "corpus", index_dir=work / "index"), log=lambda m: None)
        pipe.ask("What do major non-NATO allies receive?")  # build the index, load the models
        splits = ("dev", "holdout") if args.split == "all" else (args.split,)
        print(f"{'approach':14} {'split':8} {'first F1':>8} {'follow-up F1':>12} {'turns':>9} "
              f"{'first p50':>9} {'follow-up p50':>13} {'ratio':>5}")
        for approach in args.approaches:
            for split in splits:
                r = run(pipe, load(split), approach)
                print(f"{approach:14} {split:8} {r['first_f1']:8.1f} {r['followup_f1']:12.1f} "
                      f"{r['first']:>3}+{r['followups']:<3}  {r['first_ms']:7.0f}ms {r['followup_ms']:11.0f}ms "
                      f"{r['followup_ms'] / r['first_ms']:5.2f}", flush=True)
                if args.misses:
                    print("   " + "\n   ".join(r["misses"]))
        if args.latency_rounds:
            first, follow, resolver = latency(pipe, load(args.split), args.latency_rounds)
            print(f"latency, alternating: first question p50 {first:.0f} ms, follow-up with history p50 {follow:.0f} ms "
                  f"(ratio {follow / first:.2f}); the resolver itself {resolver:.2f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
