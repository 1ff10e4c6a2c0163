"""Gold-paragraph evaluation of the reader on SQuAD-format data, with synthetic unanswerable pairs."""

from __future__ import annotations

import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

from qa.metrics import best_scores
from qa.reader import Reader

THRESHOLDS = (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0)


def load_squad(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)["data"]


def evaluate_reader(reader: Reader, path: Path, limit: int | None = None, negatives: bool = True,
                    seed: int = 0) -> dict[str, Any]:
    """EM/F1 with the paragraph given; with `negatives`, each question is also paired with a paragraph
    of another article (must give "no answer"). Scores are reported for several null thresholds."""
    rng = random.Random(seed)
    items = []
    articles = load_squad(path)
    for ai, article in enumerate(articles):
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                golds = [] if qa.get("is_impossible") else [a["text"] for a in qa["answers"]]
                items.append((qa["question"], para["context"], golds, ai))
    rng.shuffle(items)
    items = items[:limit] if limit else items
    if negatives and len(articles) > 1:
        contexts = [(ai, p["context"]) for ai, a in enumerate(articles) for p in a["paragraphs"]]
        for q, _, _, ai in list(items):
            other = rng.choice([c for c in contexts if c[0] != ai])
            items.append((q, other[1], [], other[0]))
    predictions = []
    keep_threshold, reader.null_threshold = reader.null_threshold, float("-inf")  # see every best span
    t0 = time.perf_counter()
    try:
        for q, context, golds, _ in items:
            spans = reader.read(q, [context])
            predictions.append((spans[0].text if spans else None, spans[0].margin if spans else -1e9, golds))
    finally:
        reader.null_threshold = keep_threshold
    seconds = time.perf_counter() - t0
    by_threshold = {}
    for t in THRESHOLDS:
        has, no = [], []
        for text, score, golds in predictions:
            pred = text if score > t else None
            (has if golds else no).append(best_scores(pred, golds))
        row: dict[str, Any] = {}
        if has:
            row["has_ans_em"] = round(100 * sum(e for e, _ in has) / len(has), 2)
            row["has_ans_f1"] = round(100 * sum(f for _, f in has) / len(has), 2)
        if no:
            row["no_ans_acc"] = round(100 * sum(e for e, _ in no) / len(no), 2)
        both = has + no
        row["overall_f1"] = round(100 * sum(f for _, f in both) / len(both), 2)
        by_threshold[str(t)] = row
    answerable = [(text, golds) for text, _, golds in predictions if golds]
    forced = [best_scores(text or "", golds) for text, golds in answerable]
    return {
        "file": str(path),
        "reader": reader.model_name,
        "questions": len(answerable),
        "negatives": len(predictions) - len(answerable),
        # the reader's best span whatever its score (what "F1 with the paragraph given" usually means)
        "em": round(100 * sum(e for e, _ in forced) / max(1, len(forced)), 2),
        "f1": round(100 * sum(f for _, f in forced) / max(1, len(forced)), 2),
        "by_null_threshold": by_threshold,
        "ms_per_question": round(1000 * seconds / max(1, len(predictions)), 1),
    }
