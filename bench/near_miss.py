"""Near-miss questions: does ask() say "no answer" when a question names a person, place, thing or
number its article does not mention? And what does that cost on the real questions?

    python bench/near_miss.py [--questions 300] [--show 20]

From XQuAD's answerable questions (bench/data/xquad-dev.json, all 41 articles indexed, open-domain,
top-5), near misses are made by swapping one name or number of the question for one of the same kind
taken from another article's questions, which the question's own article never mentions ("When did the
Normans conquer England?" -> "When did the Normans conquer Prussia?"). Both sets are asked with the
evidence check off and on (QA_EVIDENCE_CHECK). Prints no-answer rates, answerable EM/F1, and a sample
of the near misses to check by hand.

Then the real thing: SQuAD 2.0 train's adversarial unanswerable questions
(../shared/data/qa/squad2-train-unanswerable.json.gz, which the shipped reader never trained on),
open-domain over the paragraphs of its 10 articles in qa.training.ADVERSARIAL_TEST_TITLES (which
`qa train-reader` leaves out by default), check off and on.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.reading.evidence import key_terms  # noqa: E402

XQUAD = ROOT / "bench/data/xquad-dev.json"


def near_misses(data: list[dict], rng: random.Random) -> list[tuple[str, str]]:
    """(original question, near miss) for every question with a name or number that can be swapped."""
    pools: dict[int, dict[str, set[str]]] = {}
    texts = {}
    for ai, article in enumerate(data):
        texts[ai] = " ".join(p["context"] for p in article["paragraphs"]).lower() + " " + article["title"].lower()
        pool = pools.setdefault(ai, {"name": set(), "number": set()})
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                for m in re.finditer(r"\b[A-Z][a-z]{3,}\b", qa["question"][1:]):
                    pool["name"].add(m.group())
                for m in re.finditer(r"\b\d{1,4}\b", qa["question"]):
                    pool["number"].add(m.group())
    out = []
    for ai, article in enumerate(data):
        others = [pools[j] for j in pools if j != ai]
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                q = qa["question"]
                swaps = [m for m in re.finditer(r"\b[A-Z][a-z]{3,}\b|\b\d{1,4}\b", q) if m.start() > 0
                         and m.group().lower() in key_terms(q)]
                if not swaps:
                    continue
                m = rng.choice(swaps)
                kind = "number" if m.group().isdigit() else "name"
                choices = sorted({w for pool in others for w in pool[kind]
                                  if w.lower() not in texts[ai] and (kind == "name" or len(w) == len(m.group()))})
                if choices:
                    out.append((q, q[: m.start()] + rng.choice(choices) + q[m.end():]))
    return out


def real_unanswerables(work: Path, n_questions: int) -> None:
    from qa.config import Settings
    from qa.training.evaluate import evaluate_questions, load_squad, squad_to_corpus
    from qa.pipeline import Pipeline
    from qa.training.train import ADVERSARIAL_TEST_TITLES

    source = ROOT.parent / "shared/data/qa/squad2-train-unanswerable.json.gz"
    titles = set(ADVERSARIAL_TEST_TITLES.split("|"))
    data = [a for a in load_squad(source) if a["title"] in titles]
    subset = work / "squad2.json"
    subset.write_text(json.dumps({"data": data}), encoding="utf-8")
    rows = squad_to_corpus(subset, work / "real")
    random.Random(17).shuffle(rows)
    rows = rows[:n_questions]
    pipe = Pipeline(Settings.load(corpus_dir=work / "real", index_dir=work / "real-index"), log=lambda m: None)
    pipe.build_index()
    print(f"real adversarial unanswerables: {len(rows)} questions over {len(data)} articles")
    for mode in ("off", "names"):
        pipe.settings = replace(pipe.settings, evidence_check=mode)
        r = evaluate_questions(pipe, rows).to_dict()
        print(f"evidence check {mode:5}: 'no answer' on {r['no_ans_acc']:.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--show", type=int, default=20)
    ap.add_argument("--real-questions", type=int, default=300)
    args = ap.parse_args()

    from qa.config import Settings
    from qa.pipeline import Pipeline
    from qa.training.evaluate import QuestionRow, evaluate_questions, load_squad, squad_to_corpus

    data = load_squad(XQUAD)
    rng = random.Random(13)
    pairs = near_misses(data, rng)
    rng.shuffle(pairs)
    pairs = pairs[: args.questions]
    golds = {}
    for article in data:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                golds[qa["question"]] = [a["text"] for a in qa["answers"]]
    work = Path(tempfile.mkdtemp(prefix="qa-nearmiss-"))
    try:
        squad_to_corpus(XQUAD, work / "corpus")
        pipe = Pipeline(Settings.load(corpus_dir=work / "corpus", index_dir=work / "index"), log=lambda m: None)
        pipe.build_index()
        answerable = [QuestionRow(q, golds[q], True) for q, _ in pairs]
        missing = [QuestionRow(n, [], False) for _, n in pairs]
        print(f"{len(pairs)} near misses from XQuAD's questions (41 articles indexed)")
        for mode in ("off", "names"):
            pipe.settings = replace(pipe.settings, evidence_check=mode)
            t = time.perf_counter()
            a = evaluate_questions(pipe, answerable).to_dict()
            n = evaluate_questions(pipe, missing).to_dict()
            print(f"evidence check {mode:5}: near misses answered 'no answer' {n['no_ans_acc']:.1f} %; "
                  f"their originals EM/F1 {a['has_ans_em']:.1f}/{a['has_ans_f1']:.1f} "
                  f"(no answer on {sum(1 for m in a['misses'] if m['predicted'] is None)}); "
                  f"{time.perf_counter() - t:.0f}s")
            if mode == "names":
                shown = [m for m in n["misses"]][: args.show]
                print(f"near misses still answered ({len(n['misses'])}), first {len(shown)}:")
                for m in shown:
                    print(f"  {m['question']!r} -> {m['predicted']!r} ({m['score']})")
        print("sample of near misses (original -> near miss):")
        for q, nm in pairs[: args.show]:
            print(f"  {q}\n    -> {nm}")
        real_unanswerables(work, args.real_questions)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
