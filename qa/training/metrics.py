"""SQuAD's EM and F1 (Rajpurkar et al.), best over the gold answers, on answers normalised as the official
script does (qa.reading.answers.normalize_answer)."""

from __future__ import annotations

import collections

from qa.reading.answers import normalize_answer


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_scores(prediction: str | None, golds: list[str]) -> tuple[float, float]:
    """(EM, F1) of a prediction against gold answers; an empty gold list means "unanswerable"."""
    if not golds:
        return (1.0, 1.0) if not prediction else (0.0, 0.0)
    if not prediction:
        return 0.0, 0.0
    return max(exact_match(prediction, g) for g in golds), max(f1(prediction, g) for g in golds)
