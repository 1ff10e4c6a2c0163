"""The tuning split through ask(): answer quality, real adversarial unanswerables, and the served score's
calibration, with the score's fit refitted on best-of-k answers where it is used.

    python bench/tuning_split.py [--readers qa/models/reader,OTHER] [--limit 500] [--rows OUT.json]

The split (qa.training.tune): the SQuAD 2.0 dev articles in qa.training.train.TUNING_TITLES, which the
reader trained by `qa train-reader` (default `holdout_titles`) never sees — their answerable questions
(source `squad1.1-dev`) and their real adversarial unanswerable ones (`squad2.0-dev`), on the same
paragraphs. Their articles are indexed; `--limit` answerable and `--limit` unanswerable questions (seeded
sample) are asked open-domain, top-5, reading all five passages (so the served answer is the best of k).
Printed per reader: answerable EM/F1, no-answer accuracy on the unanswerables, the expected calibration
error (ECE, 10 equal-width bins; "right" = F1 >= 0.5, an answer to an unanswerable question is wrong) and
reliability table of the served score; then the logistic refit of the score on the span rank (the
Reader's `calibration`), its ECE cross-fitted (titles in two halves, each scored by the fit on the other),
and the fit on all of them. `qa tune-reader --calibrate` records that fit in the reader's qa_reader.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calibration import logistic  # noqa: E402  (same folder)
from calibration import report as print_calibration  # noqa: E402


def report(name: str, answers: list) -> None:
    import numpy as np

    from qa.training.calibrate import fit_logistic
    from qa.training.tune import refit_calibration

    has = [a for a in answers if a.row.answerable]
    no = [a for a in answers if not a.row.answerable]
    print(f"\n== {name}: {len(has)} answerable, {len(no)} unanswerable (tuning split, open-domain, top-5, full read)")
    print(f"answerable F1 {100 * sum(a.f1 for a in has) / len(has):.1f}, answered "
          f"{100 * sum(a.text is not None for a in has) / len(has):.1f} %; unanswerables 'no answer' "
          f"{100 * sum(a.text is None for a in no) / len(no):.1f} %")
    served = [a for a in answers if a.text is not None]
    right = [a.f1 >= 0.5 for a in served]
    print_calibration("served score", [a.score for a in served], right)
    titles = sorted({a.row.title for a in served})
    halves = [set(titles[0::2]), set(titles[1::2])]
    cross_scores, cross_right = [], []
    for k in (0, 1):
        train = [(a.rank, y) for a, y in zip(served, right) if a.row.title not in halves[k]]
        w, b = fit_logistic(np.asarray([[r] for r, _ in train]), np.asarray([float(y) for _, y in train]))
        for a, y in zip(served, right):
            if a.row.title in halves[k]:
                cross_scores.append(logistic(w, b, [a.rank]))
                cross_right.append(y)
    print_calibration("refit on the span rank, cross-fitted by title halves", cross_scores, cross_right)
    print(f"fit on all: {refit_calibration(answers, 'best-of-5 answers through retrieval on the tuning split')}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readers", default="qa/models/reader")
    ap.add_argument("--limit", type=int, default=500, help="answerable and unanswerable questions each")
    ap.add_argument("--rows", help="also write every answer as JSON here")
    args = ap.parse_args()

    from qa.config import Settings
    from qa.training.tune import split_answers

    dumped = {}
    for reader in args.readers.split(","):
        answers = split_answers(Settings.load(reader_model=reader), args.limit)
        report(reader, answers)
        dumped[reader] = [asdict(a) for a in answers]
    if args.rows:
        Path(args.rows).write_text(json.dumps(dumped, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
