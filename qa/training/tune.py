"""Tuning a shipped reader's served settings, recorded in its qa_reader.json (`qa tune-reader`): its null
threshold (chosen by bench/null_sweep.py), and the calibration of its score refitted where the score is
used, on best-of-5 answers through retrieval on the tuning split.

The tuning split: the SQuAD 2.0 dev articles in TUNING_TITLES, which a reader trained by `qa train-reader`
with the default hold-out never sees, with their answerable (`squad1.1-dev`) and their real adversarial
unanswerable (`squad2.0-dev`) questions on the same paragraphs."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from qa.config import Settings
from qa.conversation.followups import is_vague
from qa.reading.answers import VAGUE_LOGIT
from qa.reading.weights import calibration, store_tuning
from qa.training.calibrate import fit_logistic, logit
from qa.training.evaluate import QuestionRow, squad_to_corpus
from qa.training.metrics import best_scores
from qa.training.train import TUNING_TITLES

TRAINING_DATA = Path("../shared/data/qa/train.json.gz")


@dataclass(frozen=True)
class Served:
    """One question's served answer on the tuning split, with the span rank behind its score."""

    row: QuestionRow
    text: str | None
    score: float
    f1: float
    rank: float | None  # None: no answer


def tuning_split(path: Path = TRAINING_DATA) -> list[dict[str, Any]]:
    """One article per tuning title: its paragraphs with both sources' questions."""
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


def sample_questions(articles: list[dict[str, Any]], limit: int) -> list[QuestionRow]:
    """`limit` answerable and `limit` unanswerable questions of the split (a seeded sample)."""
    rows = []
    for a in articles:
        for p in a["paragraphs"]:
            for q in p["qas"]:
                golds = [] if q.get("is_impossible") else [x["text"] for x in q["answers"]]
                rows.append(QuestionRow(q["question"], golds, bool(golds), a["title"]))
    rng = random.Random(5)
    return (rng.sample([r for r in rows if r.answerable], limit)
            + rng.sample([r for r in rows if not r.answerable], limit))


def served_answers(settings: Settings, rows: list[QuestionRow]) -> list[Served]:
    """Each question asked open-domain through a pipeline of these settings, reading all top-k passages."""
    from qa.pipeline import Pipeline

    pipe = Pipeline(replace(settings, read_mode="full"), log=lambda m: None)
    cal = calibration(settings.reader_model)
    out = []
    for row in rows:
        answer = pipe.ask(row.question)
        f1 = best_scores(answer.text, row.answers)[1] if row.answerable else 0.0
        # the served score of a question that names nothing is the reader's moved by VAGUE_LOGIT: undone here
        own = logit(answer.score) - (VAGUE_LOGIT if answer.text and is_vague(answer.resolved_question) else 0.0)
        rank = (own - cal["bias"]) / cal["scale"] if answer.text else None
        out.append(Served(row, answer.text, answer.score, f1, rank))
    return out


def refit_calibration(served: list[Served], fitted_on: str) -> dict[str, Any]:
    """The logistic fit of "right" (F1 >= 0.5) on the span rank, over the answers given."""
    import numpy as np

    given = [s for s in served if s.text is not None]
    w, b = fit_logistic(np.asarray([[s.rank] for s in given]), np.asarray([s.f1 >= 0.5 for s in given], dtype=float))
    return {"scale": round(float(w[0]), 4), "bias": round(float(b), 4),
            "fitted_on": f"{fitted_on} ({len(given)} answers of {len(served)} questions)"}


def split_answers(settings: Settings, limit: int = 500, data: Path = TRAINING_DATA,
                  log: Callable[[str], None] = print) -> list[Served]:
    """The served answers of `limit` answerable and `limit` unanswerable questions of the tuning split, its
    articles indexed in a temporary folder (removed after)."""
    articles = tuning_split(data)
    rows = sample_questions(articles, limit)
    work = Path(tempfile.mkdtemp(prefix="qa-tuning-"))
    try:
        (work / "split.json").write_text(json.dumps({"data": articles}), encoding="utf-8")
        squad_to_corpus(work / "split.json", work / "corpus")
        log(f"tuning split: {len(articles)} articles; asking {len(rows)} questions")
        return served_answers(replace(settings, corpus_dir=work / "corpus", index_dir=work / "index"), rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def tune_reader(settings: Settings, null_threshold: float | None = None, why: str = "", calibrate: bool = False,
                limit: int = 500, data: Path = TRAINING_DATA, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Record in the settings' reader (a folder in qa's format) a null threshold (with `why`: the figures it
    was chosen on) and/or a calibration refitted on the tuning split; returns what was recorded."""
    recorded: dict[str, Any] = {}
    if null_threshold is not None:
        recorded["null_threshold"] = {"value": null_threshold, "chosen_on": why or "bench/null_sweep.py"}
    if calibrate:
        served = split_answers(replace(settings, null_threshold=null_threshold), limit, data, log)
        recorded["calibration"] = refit_calibration(
            served, "best-of-5 answers through retrieval on the tuning split (qa tune-reader --calibrate)")
    store_tuning(settings.reader_model, **recorded)
    return recorded
