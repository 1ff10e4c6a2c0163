"""Calibration of the served score: the logistic fit of "the answer is right" on the reader's span rank
(what `Answer.score` is), and the expected calibration error that says how far a score is from a
probability."""

from __future__ import annotations

import math
from typing import Any

from qa.training.metrics import best_scores


def logit(p: float) -> float:
    """The log-odds of a probability (clipped away from 0 and 1)."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def fit_calibration(predictions: list[tuple[str | None, float, list[str]]]) -> dict[str, float]:
    """Logistic fit of P(best span has F1 >= 0.5) on its rank value: the reader's `score`. Spans far
    below any answer (rank <= -15) are left out so that the fit follows the range answers come from."""
    import numpy as np

    rows = [(m, float(bool(golds) and best_scores(text, golds)[1] >= 0.5))
            for text, m, golds in predictions if text is not None and m > -15]
    if len(rows) < 20:
        return {}
    m, y = np.asarray(rows).T
    w, bias = fit_logistic(m[:, None], y)
    return {"scale": round(float(w[0]), 4), "bias": round(bias, 4), "fitted_on": len(rows)}


def fit_logistic(x: Any, y: Any, ridge: float = 1e-6) -> tuple[list[float], float]:
    """Logistic regression of y (0/1) on the columns of x by Newton steps, with a little ridge so that
    a separable set still converges; returns (weights, bias)."""
    import numpy as np

    x = np.c_[np.asarray(x, dtype=float), np.ones(len(x))]
    y = np.asarray(y, dtype=float)
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -40, 40)))
        hess = (x.T * (p * (1 - p))) @ x + ridge * np.eye(x.shape[1])
        w += np.linalg.solve(hess, x.T @ (y - p))
    return [float(v) for v in w[:-1]], float(w[-1])


def expected_calibration_error(scores: Any, right: Any, bins: int = 10) -> tuple[float, list[dict[str, float]]]:
    """ECE over equal-width score bins (weighted by their share of answers), and the reliability table:
    per non-empty bin, its range, count, mean score and share right."""
    import numpy as np

    scores, right = np.asarray(scores, dtype=float), np.asarray(right, dtype=float)
    table, ece = [], 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = (scores >= lo) & ((scores < hi) if b < bins - 1 else (scores <= hi))
        if not sel.any():
            continue
        mean, acc = float(scores[sel].mean()), float(right[sel].mean())
        ece += sel.mean() * abs(mean - acc)
        table.append({"from": lo, "to": hi, "answers": int(sel.sum()), "mean_score": mean, "right": acc})
    return float(ece), table
