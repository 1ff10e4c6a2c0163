"""Real news questions: F1 of first and later turns, open-domain and asked about their own story, and the
calibration of the served score on news.

    python bench/news.py [--modes open story] [--rows OUT.json] [--misses N]

Data: ../shared/data/qa/news-conversations-dev.jsonl (206 crowd conversation windows of 2-3 turns over 96
CNN stories; see its README). The 96 stories are indexed as text files, one a story, through the product's
own indexer. Asked through ask() with the default settings:
  first   the first turn of each window, asked alone (deduplicated: windows overlap); often a question of
          its own ("What city in Tennessee?"), sometimes a follow-up whose history is not given ("When?")
  later   the target turn (the window's last), asked with the window's earlier turns as history: the
          answers ask() itself gave them, as in use
Modes: `open` asks over all 96 stories; `story` asks about the turn's own story (ask(..., article=ID)).
Scored: F1 (SQuAD's, best of the annotator's free answer and its extractive span) on span answers; the
"unknown" turns as the share of them answered "not found"; yes/no turns are not scored (not extractable).
ECE (10 bins) of the served score against "right" (F1 >= 0.5) over the answered span and unknown turns.
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
DATA = ROOT.parent / "shared/data/qa/news-conversations-dev.jsonl"
MODES = ("open", "story")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_corpus(windows: list[dict[str, Any]], folder: Path) -> None:
    folder.mkdir(parents=True)
    for w in windows:
        (folder / f"{w['story_id']}.txt").write_text(w["story"], encoding="utf-8")


def golds(turn: dict[str, Any]) -> list[str]:
    return [] if not turn["answerable"] else list(dict.fromkeys([turn["answer"], turn["extractive_answer"]]))


def turns_to_ask(windows: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(kind, window, turns): each distinct first turn alone, and each window's target with its history."""
    seen, out = set(), []
    for w in windows:
        key = (w["story_id"], w["turns"][0]["question"])
        if key not in seen:
            seen.add(key)
            out.append(("first", w, w["turns"][:1]))
        out.append(("later", w, w["turns"]))
    return out


def ask_turns(pipe: Any, kind: str, window: dict[str, Any], turns: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    from qa.training.metrics import best_scores

    article = window["story_id"] if mode == "story" else None
    history: list[Any] = []
    for turn in turns[:-1]:
        history.append(pipe.ask(turn["question"], history=history, article=article))
    target = turns[-1]
    t0 = time.perf_counter()
    answer = pipe.ask(target["question"], history=history, article=article)
    ms = 1000 * (time.perf_counter() - t0)
    gold = golds(target)
    _, f1 = best_scores(answer.text, gold)
    return {"id": window["id"], "kind": kind, "mode": mode, "type": target["answer_type"],
            "question": target["question"], "resolved": answer.resolved_question, "answer": answer.text,
            "score": answer.score, "gold": gold, "f1": f1, "ms": ms,
            "right_story": answer.article == window["story_id"],
            "story_read": any(h.passage.article_id == window["story_id"] for h in answer.passages)}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from qa.training.calibrate import expected_calibration_error

    spans = [r for r in rows if r["type"] == "span"]
    unknown = [r for r in rows if r["type"] == "unknown"]
    answered = [r for r in spans + unknown if r["answer"]]
    ece, _ = expected_calibration_error([r["score"] for r in answered], [r["f1"] >= 0.5 for r in answered])
    return {"span_f1": 100 * statistics.mean(r["f1"] for r in spans), "spans": len(spans),
            "abstained": 100 * sum(not r["answer"] for r in spans) / len(spans),
            "story_read": 100 * statistics.mean(r["story_read"] for r in spans),
            "unknown_found": 100 * sum(not r["answer"] for r in unknown) / max(len(unknown), 1),
            "unknowns": len(unknown), "ece": ece, "p50_ms": statistics.median(r["ms"] for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--limit", type=int, default=0, help="the first N windows only")
    ap.add_argument("--rows", type=Path, help="write every asked turn here (JSON)")
    ap.add_argument("--misses", type=int, default=0, help="print the first N span turns with F1 < 0.5")
    args = ap.parse_args()
    from qa.config import Settings
    from qa.pipeline import Pipeline

    windows = load(args.data)[: args.limit or None]
    work = Path(tempfile.mkdtemp())
    try:
        write_corpus(windows, work / "corpus")
        pipe = Pipeline(Settings.load(corpus_dir=work / "corpus", index_dir=work / "index"), log=lambda m: None)
        pipe.ensure_index()
        rows = []
        print(f"{'mode':6} {'turns':6} {'span F1':>7} {'spans':>5} {'abstain':>7} {'story read':>10} "
              f"{'unknown→not found':>17} {'ECE':>5} {'p50':>7}")
        for mode in args.modes:
            for kind in ("first", "later"):
                part = [ask_turns(pipe, k, w, t, mode) for k, w, t in turns_to_ask(windows) if k == kind]
                rows += part
                s = summary(part)
                print(f"{mode:6} {kind:6} {s['span_f1']:7.1f} {s['spans']:5} {s['abstained']:6.1f}% "
                      f"{s['story_read']:9.1f}% {s['unknown_found']:8.1f}% of {s['unknowns']:<3} "
                      f"{s['ece']:5.3f} {s['p50_ms']:5.0f}ms", flush=True)
        if args.rows:
            args.rows.write_text(json.dumps(rows, indent=1), encoding="utf-8")
        for r in [r for r in rows if r["type"] == "span" and r["f1"] < 0.5][: args.misses]:
            print(f"  {r['mode']:5} {r['kind']:5} {r['question']!r} -> {r['resolved']!r}: {r['answer']!r} "
                  f"(gold {r['gold'][-1]!r}, score {r['score']:.2f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
