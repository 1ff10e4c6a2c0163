"""Gold-paragraph evaluation of the reader on SQuAD-format data, with synthetic unanswerable pairs."""

from __future__ import annotations

import gzip
import json
import math
import random
import time
from pathlib import Path
from typing import Any

from qa.metrics import best_scores
from qa.reader import Reader

THRESHOLDS = (-6.0, -5.0, -4.0, -3.0, -2.5, -2.0, -1.5, -1.0, 0.0, 1.0, 2.0)


def load_squad(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)["data"]


def evaluate_reader(reader: Reader, path: Path, limit: int | None = None, negatives: bool = True,
                    seed: int = 0) -> dict[str, Any]:
    """EM/F1 with the paragraph given; with `negatives`, each question is also paired with another
    paragraph of its article that lacks every gold answer (must give "no answer"), the hard case that
    retrieval produces. Scores are reported for several null thresholds."""
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
    if negatives:
        for q, context, golds, ai in list(items):
            others = [p["context"] for p in articles[ai]["paragraphs"] if p["context"] != context
                      and not any(g.lower() in p["context"].lower() for g in golds)]
            if others:
                items.append((q, rng.choice(others), [], ai))
    predictions = []
    reader.load()
    keep = reader.null_threshold, reader.calibration
    # See every best span, and get its raw rank value (identity calibration) to fit the calibration on.
    reader.null_threshold, reader.calibration = float("-inf"), {"scale": 1.0, "bias": 0.0}
    ranks = []
    t0 = time.perf_counter()
    try:
        for q, context, golds, _ in items:
            spans = reader.read(q, [context])
            predictions.append((spans[0].text if spans else None, spans[0].margin if spans else -1e9, golds))
            ranks.append(_logit(spans[0].score) if spans else -1e9)
    finally:
        reader.null_threshold, reader.calibration = keep
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
        "calibration": fit_calibration([(t, r, g) for (t, _, g), r in zip(predictions, ranks)]),
        "ms_per_question": round(1000 * seconds / max(1, len(predictions)), 1),
    }


def read_questions(path: Path) -> list[dict[str, Any]]:
    """Question rows {"question", "answers", "answerable"} from a JSONL file."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
                row["answers"] = list(row.get("answers") or [])
                row["question"] = str(row["question"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a question record ({exc})") from exc
            rows.append(row)
    return rows


def squad_to_corpus(path: Path, corpus_dir: Path) -> list[dict[str, Any]]:
    """Write every article of a SQuAD file into corpus_dir (title line, then its paragraphs) and return
    its questions as rows, for open-domain evaluation through the whole pipeline."""
    from qa.corpus import slugify

    corpus_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for ai, article in enumerate(load_squad(path)):
        title = str(article.get("title") or f"Article {ai + 1}").replace("_", " ")
        paragraphs = [p["context"].strip() for p in article["paragraphs"]]
        (corpus_dir / f"{slugify(title) or 'article'}-{ai}.txt").write_text(
            title + "\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                golds = [] if qa.get("is_impossible") else [a["text"] for a in qa["answers"]]
                rows.append({"question": qa["question"], "answers": golds, "answerable": bool(golds)})
    return rows


def _logit(p: float) -> float:
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


def evaluate_questions(pipeline: Any, rows: list[dict[str, Any]], top_k: int | None = None,
                       progress: bool = False) -> dict[str, Any]:
    """Ask every question through the pipeline: EM/F1 split into answerable / unanswerable, no-answer
    precision and recall, retrieval recall@k and MRR, latency, and the misses (worst first)."""
    from tqdm import tqdm

    from qa.metrics import normalize_answer

    has, no, hits_at_k, rr, latencies, misses = [], [], [], [], [], []
    said_none = said_none_right = 0
    for row in tqdm(rows, desc="eval", unit="q", disable=not progress, mininterval=5):
        golds = row["answers"] if row.get("answerable", bool(row["answers"])) else []
        t0 = time.perf_counter()
        answer = pipeline.ask(row["question"], top_k=top_k)
        latencies.append(time.perf_counter() - t0)
        em, f1 = best_scores(answer.text, golds)
        (has if golds else no).append((em, f1))
        if answer.text is None:
            said_none += 1
            said_none_right += not golds
        if golds:
            texts = [normalize_answer(h.passage.text) for h in answer.passages]
            ranks = [r for r, t in enumerate(texts, 1) if any(normalize_answer(g) in t for g in golds)]
            hits_at_k.append(bool(ranks))
            rr.append(1 / ranks[0] if ranks else 0.0)
        if f1 < 1.0:
            misses.append({"question": row["question"], "predicted": answer.text, "gold": golds[:2],
                           "f1": round(100 * f1, 1), "score": round(answer.score, 3)})
    latencies.sort()

    def pct(values: list[tuple[float, float]], i: int) -> float | None:
        return round(100 * sum(v[i] for v in values) / len(values), 1) if values else None

    def quantile(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else 0.0

    return {
        "questions": len(rows), "answerable": len(has), "unanswerable": len(no),
        "has_ans_em": pct(has, 0), "has_ans_f1": pct(has, 1), "no_ans_acc": pct(no, 0),
        "overall_em": pct(has + no, 0), "overall_f1": pct(has + no, 1),
        "no_ans_precision": round(100 * said_none_right / said_none, 1) if said_none else None,
        "no_ans_recall": pct(no, 0),
        "retrieval_recall_at_k": round(100 * sum(hits_at_k) / len(hits_at_k), 1) if hits_at_k else None,
        "retrieval_mrr": round(sum(rr) / len(rr), 3) if rr else None,
        "latency_ms_p50": quantile(0.5), "latency_ms_p95": quantile(0.95),
        "misses": sorted(misses, key=lambda m: (m["f1"], -m["score"])),
    }
