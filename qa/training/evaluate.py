"""Evaluation: the reader alone on gold paragraphs (with synthetic unanswerable pairs), and questions asked
through the whole pipeline (a JSONL question file against the index, or a SQuAD file open-domain over its
own articles indexed in a temporary folder). Reports are dataclasses; `to_dict()` gives the JSON form."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from qa.config import Settings
from qa.errors import DataError, NotFoundError
from qa.ingest.files import slugify
from qa.reading.answers import normalize_answer
from qa.reading.reader import Reader
from qa.training.calibrate import fit_calibration, logit
from qa.training.metrics import best_scores

THRESHOLDS = (-6.0, -5.0, -4.0, -3.0, -2.5, -2.0, -1.5, -1.0, 0.0, 1.0, 2.0)


@dataclass(frozen=True)
class QuestionRow:
    """A question with its gold answers; an unanswerable one has none."""

    question: str
    answers: list[str]
    answerable: bool
    title: str = ""  # the article it was asked about, where known

    @property
    def golds(self) -> list[str]:
        """The answers a prediction is scored against ([] for an unanswerable question)."""
        return self.answers if self.answerable else []


@dataclass(frozen=True)
class Miss:
    """A question answered with F1 below 100."""

    question: str
    predicted: str | None
    gold: list[str]
    f1: float
    score: float


@dataclass
class QuestionsReport:
    """EM/F1 split into answerable / unanswerable, no-answer precision and recall, retrieval recall@k and
    MRR, latency, and the misses (worst first). Percentages; None where a part has no questions."""

    questions: int
    answerable: int
    unanswerable: int
    has_ans_em: float | None
    has_ans_f1: float | None
    no_ans_acc: float | None
    overall_em: float | None
    overall_f1: float | None
    no_ans_precision: float | None
    no_ans_recall: float | None
    retrieval_recall_at_k: float | None
    retrieval_mrr: float | None
    latency_ms_p50: float
    latency_ms_p95: float
    misses: list[Miss] = field(default_factory=list)
    file: str = ""
    top_k: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReaderReport:
    """The reader alone on gold paragraphs: EM/F1 of its best span whatever its score, answer quality and
    "no answer" accuracy per null threshold, the calibration fitted on these questions, and its speed."""

    file: str
    reader: str
    questions: int
    negatives: int
    em: float
    f1: float
    by_null_threshold: dict[str, dict[str, float]]
    calibration: dict[str, float]
    ms_per_question: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_squad(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)["data"]


def evaluate_reader(reader: Reader, path: Path, limit: int | None = None, negatives: bool = True,
                    seed: int = 0) -> ReaderReport:
    """EM/F1 with the paragraph given; with `negatives`, each question is also paired with another
    paragraph of its article that lacks every gold answer (must give "no answer"), the hard case that
    retrieval produces. Scores are reported for several null thresholds."""
    if not path.is_file():
        raise NotFoundError(f"evaluation file not found: {path}")
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
            ranks.append(logit(spans[0].score) if spans else -1e9)
    finally:
        reader.null_threshold, reader.calibration = keep
    seconds = time.perf_counter() - t0
    by_threshold = {}
    for t in THRESHOLDS:
        has, no = [], []
        for text, score, golds in predictions:
            pred = text if score > t else None
            (has if golds else no).append(best_scores(pred, golds))
        row: dict[str, float] = {}
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
    return ReaderReport(
        file=str(path), reader=reader.model_name, questions=len(answerable),
        negatives=len(predictions) - len(answerable),
        em=round(100 * sum(e for e, _ in forced) / max(1, len(forced)), 2),
        f1=round(100 * sum(f for _, f in forced) / max(1, len(forced)), 2),
        by_null_threshold=by_threshold,
        calibration=fit_calibration([(t, r, g) for (t, _, g), r in zip(predictions, ranks)]),
        ms_per_question=round(1000 * seconds / max(1, len(predictions)), 1))


def read_questions(path: Path) -> list[QuestionRow]:
    """Question rows from a JSONL file: {"question", "answers": [...], "answerable": bool} a line
    ("answerable" defaults to having answers)."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
                answers = [str(a) for a in record.get("answers") or []]
                rows.append(QuestionRow(str(record["question"]), answers,
                                        bool(record.get("answerable", bool(answers)))))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise DataError(f"{path}:{n}: not a question record ({exc})") from None
    return rows


def squad_to_corpus(path: Path, corpus_dir: Path) -> list[QuestionRow]:
    """Write every article of a SQuAD file into corpus_dir (title line, then its paragraphs) and return
    its questions as rows, for open-domain evaluation through the whole pipeline."""
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
                rows.append(QuestionRow(qa["question"], golds, bool(golds), title))
    return rows


def evaluate_questions(pipeline: Any, rows: list[QuestionRow], top_k: int | None = None,
                       progress: bool = False) -> QuestionsReport:
    """Ask every question through the pipeline (anything with `ask(question, top_k=)`) and score it."""
    from tqdm import tqdm

    has, no, hits_at_k, rr, latencies, misses = [], [], [], [], [], []
    said_none = said_none_right = 0
    for row in tqdm(rows, desc="eval", unit="q", disable=not progress, mininterval=5):
        golds = row.golds
        t0 = time.perf_counter()
        answer = pipeline.ask(row.question, top_k=top_k)
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
            misses.append(Miss(row.question, answer.text, golds[:2], round(100 * f1, 1), round(answer.score, 3)))
    latencies.sort()

    def pct(values: list[tuple[float, float]], i: int) -> float | None:
        return round(100 * sum(v[i] for v in values) / len(values), 1) if values else None

    def quantile(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else 0.0

    return QuestionsReport(
        questions=len(rows), answerable=len(has), unanswerable=len(no),
        has_ans_em=pct(has, 0), has_ans_f1=pct(has, 1), no_ans_acc=pct(no, 0),
        overall_em=pct(has + no, 0), overall_f1=pct(has + no, 1),
        no_ans_precision=round(100 * said_none_right / said_none, 1) if said_none else None,
        no_ans_recall=pct(no, 0),
        retrieval_recall_at_k=round(100 * sum(hits_at_k) / len(hits_at_k), 1) if hits_at_k else None,
        retrieval_mrr=round(sum(rr) / len(rr), 3) if rr else None,
        latency_ms_p50=quantile(0.5), latency_ms_p95=quantile(0.95),
        misses=sorted(misses, key=lambda m: (m.f1, -m.score)))


def is_squad(path: Path) -> bool:
    """A SQuAD-format file (.json, .json.gz) rather than a JSONL question file."""
    return path.name.endswith((".json", ".json.gz"))


def evaluate_file(path: Path, settings: Settings, top_k: int | None = None, limit: int | None = None,
                  seed: int = 0, progress: bool | None = None, log: Callable[[str], None] = print) -> QuestionsReport:
    """Score the questions of a file through the whole pipeline: a SQuAD file open-domain over its own
    articles (indexed in a temporary folder, removed after; the settings' corpus and index are not
    touched), or a JSONL question file against the settings' index. `limit`: a seeded sample. `progress`:
    a progress bar (None: for more than 50 questions)."""
    from qa.pipeline import Pipeline

    if not path.is_file():
        raise NotFoundError(f"evaluation file not found: {path}")
    work = Path(tempfile.mkdtemp(prefix="qa-eval-")) if is_squad(path) else None
    try:
        if work is not None:
            rows = squad_to_corpus(path, work / "corpus")
            settings = replace(settings, corpus_dir=work / "corpus", index_dir=work / "index")
        else:
            rows = read_questions(path)
        if limit and limit < len(rows):
            rows = random.Random(seed).sample(rows, limit)
        pipeline = Pipeline(settings, log=log)
        pipeline.ensure_index()  # built before the questions are timed
        report = evaluate_questions(pipeline, rows, top_k=top_k,
                                    progress=len(rows) > 50 if progress is None else progress)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    report.file, report.top_k = str(path), top_k or settings.top_k
    return report
