"""Is the score ask() serves a probability? Its calibration open-domain, and what a refit would do.

    python bench/calibration.py [--near-misses 600] [--real 300] [--rows OUT.json]
    python bench/calibration.py --from-rows OUT.json     # the analysis again, without asking

Questions asked through ask() (top-5, the default settings), open-domain, none of them trained on:
- XQuAD dev's 1,190 answerable questions over its 41 articles (bench/data/xquad-dev.json);
- near misses made from them (bench/near_miss.py: a name or number swapped for one the article never
  mentions; unanswerable);
- real adversarial unanswerables from SQuAD 2.0 train (../shared/data/qa/squad2-train-unanswerable.json.gz,
  the first 10 articles; the shipped reader never saw this file);
- the seed set (tests/data/seed_questions.jsonl), checked only, never fitted on.
Every answered question is a row: its FEATURES and whether it is right (F1 >= 0.5; an answer to an
unanswerable question is wrong). Printed: expected calibration error (ECE, 10 bins), reliability tables
and AUC for the span score that ask() serves, and for a logistic refit on the mix of these questions
(cross-fitted: articles split in two halves, each half scored by the fit on the other), per source too;
and, on XQuAD's answerable questions alone (which the shipped reader never trained on), the served score
refitted there — one scale and bias on its logit — cross-fitted the same way: calibration where it is
used, on a split training never saw.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

XQUAD = ROOT / "bench/data/xquad-dev.json"
REAL = ROOT.parent / "shared/data/qa/squad2-train-unanswerable.json.gz"
SEED = ROOT / "tests/data/seed_questions.jsonl"

FEATURES = ("span_logit", "lead_logit", "passage_rank")
NO_RIVAL = 6.0  # the lead of a candidate with no rival (about the largest lead seen with one)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def features(answer) -> list[float]:
    """The served answer's span score (as a logit), its lead over the next distinct candidate, and the
    retrieval rank of its passage."""
    logit = _logit(answer.score)
    lead = logit - _logit(answer.alternatives[0].score) if answer.alternatives else NO_RIVAL
    rank = next((n for n, h in enumerate(answer.passages, 1) if h.passage.article_id == answer.article
                 and h.passage.start <= answer.start < h.passage.end), len(answer.passages))
    return [logit, min(lead, NO_RIVAL), float(rank)]


def logistic(w: list[float], b: float, x: list[float]) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(b + sum(wi * xi for wi, xi in zip(w, x)), 40.0), -40.0)))


def auc(scores: list[float], right: list[bool]) -> float:
    """Area under the ROC curve: P(a right answer scores above a wrong one)."""
    pairs = sorted(zip(scores, right))
    ranks, total_right, n = 0.0, sum(right), len(pairs)
    for rank, (_, r) in enumerate(pairs, 1):
        ranks += rank if r else 0
    return (ranks - total_right * (total_right + 1) / 2) / max(total_right * (n - total_right), 1)


def ask_all(pipe, questions: list[tuple[str, list[str], str, int]]) -> list[dict]:
    """questions: (question, golds, source, fold); one row per answered question."""
    from qa.training.metrics import best_scores

    rows = []
    for q, golds, source, fold in questions:
        answer = pipe.ask(q)
        if answer.text is None:
            rows.append({"source": source, "fold": fold, "answered": False, "right": not golds})
            continue
        x = features(answer)
        rows.append({"source": source, "fold": fold, "answered": True, "x": x, "span_score": answer.score,
                     "right": bool(golds) and best_scores(answer.text, golds)[1] >= 0.5})
    return rows


def xquad_questions(data: list[dict], near: int) -> list[tuple[str, list[str], str, int]]:
    from near_miss import near_misses

    out, title_fold = [], {}
    for ai, article in enumerate(data):
        title_fold[article["title"]] = ai % 2
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                out.append((qa["question"], [a["text"] for a in qa["answers"]], "xquad", ai % 2))
    fold_of = {q: f for q, _, _, f in out}
    pairs = near_misses(data, random.Random(29))
    random.Random(31).shuffle(pairs)
    out += [(miss, [], "near miss", fold_of[q]) for q, miss in pairs[:near]]
    return out


def real_questions(work: Path, n: int) -> tuple[Path, list[tuple[str, list[str], str, int]]]:
    from qa.training.evaluate import load_squad, squad_to_corpus

    data = load_squad(REAL)[:10]
    subset = work / "real.json"
    subset.write_text(json.dumps({"data": data}), encoding="utf-8")
    squad_to_corpus(subset, work / "real")
    out = [(qa["question"], [], "SQuAD 2.0 adversarial", ai % 2)
           for ai, article in enumerate(data) for p in article["paragraphs"] for qa in p["qas"]]
    random.Random(17).shuffle(out)
    return work / "real", out[:n]


def seed_questions() -> list[tuple[str, list[str], str, int]]:
    rows = [json.loads(line) for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["question"], r["answers"] if r.get("answerable", True) else [], "seed", -1) for r in rows]


def report(name: str, scores: list[float], right: list[bool]) -> float:
    from qa.training.calibrate import expected_calibration_error

    ece, table = expected_calibration_error(scores, right)
    print(f"\n{name}: {len(scores)} answers, ECE {ece:.3f}")
    print("| score | answers | mean score | right |")
    print("|---|---|---|---|")
    for b in table:
        print(f"| {b['from']:.1f}-{b['to']:.1f} | {b['answers']} | {b['mean_score']:.2f} | {b['right']:.2f} |")
    return ece


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--near-misses", type=int, default=600)
    ap.add_argument("--real", type=int, default=300)
    ap.add_argument("--rows", help="save the rows (features, right) to this JSON file")
    ap.add_argument("--from-rows", help="analyse rows saved with --rows instead of asking again")
    args = ap.parse_args()
    if args.from_rows:
        analyse(json.loads(Path(args.from_rows).read_text(encoding="utf-8")))
        return

    from qa.config import Settings
    from qa.training.evaluate import load_squad, squad_to_corpus
    from qa.pipeline import Pipeline

    work = Path(tempfile.mkdtemp(prefix="qa-calibration-"))
    try:
        squad_to_corpus(XQUAD, work / "xquad")
        real_dir, real = real_questions(work, args.real)
        shutil.copytree(ROOT / "corpus", work / "seed")
        rows = []
        pipe = None
        for corpus, questions in ((work / "xquad", xquad_questions(load_squad(XQUAD), args.near_misses)),
                                  (real_dir, real), (work / "seed", seed_questions())):
            pipe = Pipeline(Settings.load(corpus_dir=corpus, index_dir=corpus.with_name(corpus.name + "-index")),
                            log=lambda m: None, embedder=pipe.embedder if pipe else None,
                            reader=pipe.reader if pipe else None)
            pipe.build_index()
            rows += ask_all(pipe, questions)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.rows:
        Path(args.rows).write_text(json.dumps(rows), encoding="utf-8")
    analyse(rows)


def analyse(rows: list[dict]) -> None:
    """ECE and reliability of the served span score, and of a refit on the mix (cross-fitted)."""
    from qa.training.calibrate import fit_logistic

    for source in ("xquad", "near miss", "SQuAD 2.0 adversarial", "seed"):
        mine = [r for r in rows if r["source"] == source]
        said = [r for r in mine if r["answered"]]
        print(f"{source}: {len(mine)} questions, answered {len(said)}, right among answered "
              f"{sum(r['right'] for r in said) / max(len(said), 1):.3f}")
    fit_rows = [r for r in rows if r["answered"] and r["fold"] >= 0]
    refit = {}
    for fold in (0, 1):
        train = [r for r in fit_rows if r["fold"] != fold]
        w, b = fit_logistic([r["x"] for r in train], [r["right"] for r in train], ridge=1e-3)
        for r in fit_rows:
            if r["fold"] == fold:
                refit[id(r)] = logistic(w, b, r["x"])
    right = [r["right"] for r in fit_rows]
    print(f"\nAUC (a right answer scored above a wrong one): span score "
          f"{auc([r['span_score'] for r in fit_rows], right):.3f}, refit on {', '.join(FEATURES)} "
          f"{auc([refit[id(r)] for r in fit_rows], right):.3f}")
    report("span score as served (open-domain mix)", [r["span_score"] for r in fit_rows], right)
    report("refit on the mix, cross-fitted by article halves", [refit[id(r)] for r in fit_rows], right)
    for source in ("xquad", "near miss", "SQuAD 2.0 adversarial"):
        mine = [r for r in fit_rows if r["source"] == source]
        print(f"  {source}: ECE span score {_ece([r['span_score'] for r in mine], mine):.3f}, "
              f"refit (cross-fitted) {_ece([refit[id(r)] for r in mine], mine):.3f}")
    seed = [r for r in rows if r["answered"] and r["source"] == "seed"]
    w, b = fit_logistic([r["x"] for r in fit_rows], right, ridge=1e-3)
    report("seed set, span score", [r["span_score"] for r in seed], [r["right"] for r in seed])
    report("seed set, refit on the whole mix", [logistic(w, b, r["x"]) for r in seed], [r["right"] for r in seed])
    xquad = [r for r in fit_rows if r["source"] == "xquad"]
    report("XQuAD answerable, span score as served", [r["span_score"] for r in xquad], [r["right"] for r in xquad])
    crossed = {}
    for fold in (0, 1):
        train = [r for r in xquad if r["fold"] != fold]
        w, b = fit_logistic([r["x"][:1] for r in train], [r["right"] for r in train], ridge=1e-3)
        print(f"  fit on fold {1 - fold}: served logit x {w[0]:.3f} + {b:.3f}")
        for r in xquad:
            if r["fold"] == fold:
                crossed[id(r)] = logistic(w, b, r["x"][:1])
    report("XQuAD answerable, served score refitted on the other article half", [crossed[id(r)] for r in xquad],
           [r["right"] for r in xquad])
    w, b = fit_logistic([r["x"][:1] for r in xquad], [r["right"] for r in xquad], ridge=1e-3)
    print(f"  fit on all of XQuAD: served logit x {w[0]:.3f} + {b:.3f}; seed set with it: ECE "
          f"{_ece([logistic(w, b, r['x'][:1]) for r in seed], seed):.3f}")


def _ece(scores: list[float], rows: list[dict]) -> float:
    from qa.training.calibrate import expected_calibration_error

    return expected_calibration_error(scores, [r["right"] for r in rows])[0]


if __name__ == "__main__":
    main()
