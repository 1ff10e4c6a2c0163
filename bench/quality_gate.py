"""The quality gate of the fast reading path, old and new settings side by side in one process.

    python bench/quality_gate.py [--limit 300]

- reader alone on XQuAD gold paragraphs (`evaluate_reader`, as `qa eval-reader`): fp32 vs the default
  precision; with the calibration refitted on each;
- XQuAD open-domain (the 48 articles indexed, the same 300 questions as `qa eval ... --limit 300`) and
  the seed questions against the seed corpus (`evaluate_questions`, as `qa eval`): v0.1's settings
  (fp32, read all passages) vs the defaults; with the expected calibration error of `Answer.score`
  (10 equal-width bins; "right" = F1 >= 0.5, as the calibration is fitted).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = {"v0.1 settings (fp32, full read)": {"reader_precision": "fp32", "read_mode": "full"},
         "defaults": {}}


class Recorder:
    """Passes ask() through to a pipeline and keeps (score, answer text, question) for the calibration."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.answers: list[tuple[float, str | None, str]] = []

    def ask(self, question: str, top_k: int | None = None) -> Any:
        answer = self.pipeline.ask(question, top_k=top_k)
        self.answers.append((answer.score, answer.text, question))
        return answer


def calibration_error(answers: list[tuple[float, str | None, str]], golds: dict[str, list[str]]) -> float:
    """Expected calibration error (percentage points) of the answered questions' scores."""
    from qa.training.metrics import best_scores

    rows = [(score, best_scores(text, golds[q])[1] >= 0.5) for score, text, q in answers if text is not None]
    bins: dict[int, list[tuple[float, bool]]] = {}
    for score, right in rows:
        bins.setdefault(min(9, int(score * 10)), []).append((score, right))
    gap = sum(abs(sum(s for s, _ in b) - sum(r for _, r in b)) for b in bins.values())
    return round(100 * gap / max(1, len(rows)), 1)


def open_domain(rows: list[Any], corpus: Path, work: Path) -> dict[str, dict[str, Any]]:
    from qa.config import Settings
    from qa.training.evaluate import evaluate_questions
    from qa.pipeline import Pipeline

    golds = {r.question: r.golds for r in rows}
    out = {}
    for name, overrides in MODES.items():
        settings = Settings.load(corpus_dir=corpus, index_dir=work / "index", **overrides)
        pipe = Recorder(Pipeline(settings, log=lambda m: None))
        result = evaluate_questions(pipe, rows).to_dict()
        out[name] = {k: result[k] for k in ("has_ans_em", "has_ans_f1", "no_ans_acc", "overall_f1",
                                             "retrieval_recall_at_k", "latency_ms_p50")}
        out[name]["calibration_error"] = calibration_error(pipe.answers, golds)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--skip-reader", action="store_true", help="leave out the gold-paragraph evaluation")
    args = ap.parse_args()
    from qa.training.evaluate import evaluate_reader, read_questions, squad_to_corpus
    from qa.reading.reader import Reader

    xquad = ROOT / "bench/data/xquad-dev.json"
    report: dict[str, Any] = {}
    if not args.skip_reader:
        for precision in ("fp32", "auto"):
            r = evaluate_reader(Reader(precision=precision), xquad).to_dict()
            report[f"gold paragraph, {precision} ({Reader(precision=precision).precision})"] = {
                k: r[k] for k in ("em", "f1", "calibration")} | {"at_threshold_0": r["by_null_threshold"]["0.0"]}
    work = Path(tempfile.mkdtemp())
    try:
        rows = squad_to_corpus(xquad, work / "xquad")
        rows = random.Random(0).sample(rows, args.limit)  # the sample `qa eval --limit N --seed 0` takes
        report["xquad open-domain"] = open_domain(rows, work / "xquad", work / "x")
        shutil.copytree(ROOT / "corpus", work / "seed")
        report["seed questions"] = open_domain(read_questions(ROOT / "tests/data/seed_questions.jsonl"),
                                               work / "seed", work / "s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
