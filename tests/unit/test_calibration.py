"""Calibration tools checked against brute force: a logistic fit that recovers known weights, and the
expected calibration error of scores that are (or are not) probabilities."""

from __future__ import annotations

import random

from qa.training.calibrate import expected_calibration_error, fit_calibration, fit_logistic


def test_a_logistic_fit_recovers_the_weights_it_was_drawn_from():
    rng = random.Random(3)
    x = [[rng.uniform(-3, 3), rng.uniform(-3, 3)] for _ in range(20000)]
    y = [rng.random() < 1 / (1 + 2.718281828 ** -(1.5 * a - 0.5 * b + 0.25)) for a, b in x]
    w, bias = fit_logistic(x, y)
    assert abs(w[0] - 1.5) < 0.1 and abs(w[1] + 0.5) < 0.1 and abs(bias - 0.25) < 0.1


def test_expected_calibration_error_is_small_for_probabilities_and_large_for_overconfidence():
    rng = random.Random(5)
    p = [rng.random() for _ in range(20000)]
    right = [rng.random() < q for q in p]
    ece, table = expected_calibration_error(p, right)
    assert ece < 0.02 and len(table) == 10 and sum(b["answers"] for b in table) == 20000
    overconfident, _ = expected_calibration_error([min(1.0, q + 0.3) for q in p], right)
    assert 0.2 < overconfident < 0.3
    by_hand = sum(abs(sum(p[i] for i in idx) / len(idx) - sum(right[i] for i in idx) / len(idx)) * len(idx)
                  for b in range(10) if (idx := [i for i, q in enumerate(p) if b / 10 <= q < (b + 1) / 10 or
                                                 (b == 9 and q == 1.0)])) / len(p)
    assert abs(ece - by_hand) < 1e-9


def test_the_reader_calibration_fit_follows_the_answers():
    rows = [("right answer", m, ["right answer"]) for m in range(0, 20)]
    rows += [("wrong", m - 10, ["right answer"]) for m in range(0, 20)]
    fitted = fit_calibration(rows)
    assert fitted["scale"] > 0 and fitted["fitted_on"] == 40
