"""The tuning split through ask(): answer quality, real adversarial unanswerables, and the served score's
calibration, with the score's fit refitted on best-of-k answers where it is used.

    python bench/tuning_split.py [--readers qa/models/reader,OTHER] [--limit 500] [--store] [--rows OUT.json]

The split: the SQuAD 2.0 dev articles in qa.training.TUNING_TITLES, which the reader trained by
`qa train-reader` (default `holdout_titles`) never sees — their answerable questions (source
`squad1.1-dev`) and their real adversarial unanswerable ones (`squad2.0-dev`), on the same paragraphs.
Their articles are indexed; `--limit` answerable and `--limit` unanswerable questions (seeded sample) are
asked open-domain, top-5, reading all five passages (so the served answer is the best of k). Printed per
reader: answerable EM/F1, no-answer accuracy on the unanswerables, the expected calibration error (ECE,
10 equal-width bins; "right" = F1 >= 0.5, an answer to an unanswerable question is wrong) and reliability
table of the served score; then the logistic refit of the score on the span rank (the Reader's
`calibration`), its ECE cross-fitted (titles in two halves, each scored by the fit on the other), and
the fit on all of them. `--store` writes that fit into the reader's qa_reader.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calibration import _logit, logistic  # noqa: E402  (same folder)
from calibration import report as print_calibration  # noqa: E402

DATA = ROOT.parent / "shared/data/qa/train.json.gz"


def tuning_split(path: Path = DATA) -> list[dict[str, Any]]:
    """One article per tuning title: its paragraphs with both sources' questions."""
    from qa.training import TUNING_TITLES

    titles = TUNING_TITLES.split("|")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        articles = [a for a in json.load(fh)["data"]
                    if a["title"] in titles and a["source"] in ("squad1.1-dev", "squad2.0-dev")]
    merged: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for a in articles:
        paras = merged.setdefault(a["title"], {})
        for p in a["paragraphs"]:
            paras.setdefault(p["context"], []).extend(p["qas"])
    return [{"title": t, "paragraphs": [{"context": c, "qas": q} for c, q in merged[t].items()]}
            for t in titles if t in merged]


def sample_questions(articles: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """`limit` answerable and `limit` unanswerable questions of the split (a seeded sample), as rows."""
    rows = []
    for a in articles:
        for p in a["paragraphs"]:
            for q in p["qas"]:
                golds = [] if q.get("is_impossible") else [x["text"] for x in q["answers"]]
                rows.append({"question": q["question"], "answers": golds, "answerable": bool(golds),
                             "title": a["title"]})
    rng = random.Random(5)
    return (rng.sample([r for r in rows if r["answerable"]], limit)
            + rng.sample([r for r in rows if not r["answerable"]], limit))


def ask_all(reader: str, corpus: Path, index: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each question's served answer: text, score, the span rank behind the score, F1, title."""
    from qa.config import Settings
    from qa.evaluation import best_scores
    from qa.pipeline import Pipeline
    from qa.reader_model import calibration

    pipe = Pipeline(Settings.load(corpus_dir=corpus, index_dir=index, reader_model=reader), log=lambda m: None)
    pipe.settings = replace(pipe.settings, read_mode="full")
    cal = calibration(reader)
    out = []
    for row in rows:
        answer = pipe.ask(row["question"])
        f1 = best_scores(answer.text, row["answers"])[1] if row["answers"] else 0.0
        out.append({**row, "text": answer.text, "score": answer.score, "f1": f1,
                    "rank": (_logit(answer.score) - cal["bias"]) / cal["scale"] if answer.text else None})
    return out


def report(name: str, answers: list[dict[str, Any]], store: bool) -> None:
    import numpy as np

    from qa.evaluation import fit_logistic

    has = [a for a in answers if a["answerable"]]
    no = [a for a in answers if not a["answerable"]]
    print(f"\n== {name}: {len(has)} answerable, {len(no)} unanswerable (tuning split, open-domain, top-5, full read)")
    print(f"answerable F1 {100 * sum(a['f1'] for a in has) / len(has):.1f}, answered "
          f"{100 * sum(a['text'] is not None for a in has) / len(has):.1f} %; unanswerables 'no answer' "
          f"{100 * sum(a['text'] is None for a in no) / len(no):.1f} %")
    served = [a for a in answers if a["text"] is not None]
    right = [a["f1"] >= 0.5 for a in served]
    print_calibration("served score", [a["score"] for a in served], right)
    titles = sorted({a["title"] for a in served})
    halves = [set(titles[0::2]), set(titles[1::2])]
    cross_scores, cross_right = [], []
    for k in (0, 1):
        train = [(a["rank"], y) for a, y in zip(served, right) if a["title"] not in halves[k]]
        w, b = fit_logistic(np.asarray([[r] for r, _ in train]), np.asarray([float(y) for _, y in train]))
        for a, y in zip(served, right):
            if a["title"] in halves[k]:
                cross_scores.append(logistic(w, b, [a["rank"]]))
                cross_right.append(y)
    print_calibration("refit on the span rank, cross-fitted by title halves", cross_scores, cross_right)
    w, b = fit_logistic(np.asarray([[a["rank"]] for a in served]), np.asarray(right, dtype=float))
    fit = {"scale": round(float(w[0]), 4), "bias": round(float(b), 4),
           "fitted_on": f"best-of-5 answers through retrieval on the tuning split ({len(served)} answers of "
                        f"{len(answers)} questions; bench/tuning_split.py)"}
    print(f"fit on all: {fit}")
    if store:
        marker = Path(name) / "qa_reader.json"
        info = json.loads(marker.read_text(encoding="utf-8"))
        info["calibration"] = fit
        marker.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        print(f"stored in {marker}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readers", default="qa/models/reader")
    ap.add_argument("--limit", type=int, default=500, help="answerable and unanswerable questions each")
    ap.add_argument("--store", action="store_true", help="write the refit into each reader's qa_reader.json")
    ap.add_argument("--rows", help="also write every answer as JSON here")
    args = ap.parse_args()

    from qa.evaluation import squad_to_corpus

    articles = tuning_split()
    rows = sample_questions(articles, args.limit)
    work = Path(tempfile.mkdtemp(prefix="qa-tuning-"))
    try:
        (work / "split.json").write_text(json.dumps({"data": articles}), encoding="utf-8")
        squad_to_corpus(work / "split.json", work / "corpus")
        print(f"tuning split: {len(articles)} articles, "
              f"{sum(len(a['paragraphs']) for a in articles)} paragraphs; asking {len(rows)} questions")
        dumped = {}
        for reader in args.readers.split(","):
            answers = ask_all(reader, work / "corpus", work / "index", rows)
            report(reader, answers, args.store)
            dumped[reader] = answers
        if args.rows:
            Path(args.rows).write_text(json.dumps(dumped, indent=1), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
