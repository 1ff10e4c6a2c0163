"""Training examples for the reader: read SQuAD-format files, hold out a tuning split, add negatives,
and cut everything into labelled token windows.

Three kinds of unanswerable example teach the reader to say "no answer":
- real ones (SQuAD 2.0's adversarial questions, written to look answerable from their paragraph),
  all of them;
- near misses synthesized from answerable questions: one name, year or number of the question swapped
  for one of the same kind that its article never mentions, the paragraph kept ("When did the Normans
  conquer England?" -> "When did the Normans conquer Prussia?");
- paragraph swaps: a question paired with another paragraph of its article that lacks the answer (the
  case retrieval produces).
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.reading.evidence import NOT_NAMES


@dataclass
class Example:
    question: str
    context: str
    answer_start: int | None  # None: unanswerable
    answer_text: str
    kind: str = "answerable"  # answerable | real | near_miss | swap


@dataclass
class _Question:
    example: Example
    article: int
    paragraph: int


def read_articles(paths: str) -> list[dict[str, Any]]:
    """The articles of one or more SQuAD-format files (comma-separated; .json or .json.gz)."""
    articles: list[dict[str, Any]] = []
    for name in (p for p in paths.split(",") if p):
        path = Path(name)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            articles.extend(json.load(fh)["data"])
    return articles


def select_articles(articles: list[dict[str, Any]], sources: str, holdout_titles: str) -> list[dict[str, Any]]:
    """Articles of the wanted sources (comma-separated; all when empty), minus the held-out titles
    (separated by "|", since titles may hold commas; of any source)."""
    wanted = {s for s in sources.split(",") if s}
    held = {_title_key(t) for t in holdout_titles.split("|") if t}
    return [a for a in articles
            if (not wanted or a.get("source") in wanted) and _title_key(a.get("title", "")) not in held]


def _title_key(title: str) -> str:
    """Titles as sources write them differently: "Black_Death" (SQuAD) and "Black Death" (QED) are one."""
    return " ".join(title.replace("_", " ").split()).casefold()


# A name: capitalised words in a row (not the question's first word); a number: digits.
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][a-z]+)*\b")
_NUMBER = re.compile(r"\b\d{1,4}\b")


def _kind(term: str) -> str:
    if term.isdigit():
        return "year" if len(term) == 4 and term[:2] in ("10", "11", "12", "13", "14", "15", "16", "17",
                                                          "18", "19", "20") else f"number{len(term)}"
    return f"name{len(term.split())}"


def _swappable(question: str, context: str) -> list[re.Match[str]]:
    """Names and numbers of the question that its paragraph mentions: what the question asks about."""
    spans = [m for m in _NAME.finditer(question) if m.start() > 0 and m.group().lower() not in NOT_NAMES]
    spans += list(_NUMBER.finditer(question))
    return [m for m in spans if m.group().lower() in context.lower()]


def near_misses(questions: list[_Question], article_texts: list[str], ratio: float,
                rng: random.Random) -> list[Example]:
    """Up to ratio x len(questions) near misses: a name or number swapped for one of the same kind (same
    word count; years for years, numbers of as many digits) from another article's questions, one its
    own article never mentions."""
    pools: dict[str, list[tuple[str, int]]] = {}
    for q in questions:
        for m in _swappable(q.example.question, q.example.context):
            pools.setdefault(_kind(m.group()), []).append((m.group(), q.article))
    out: list[Example] = []
    want = int(len(questions) * ratio)
    for q in rng.sample(questions, len(questions)):
        if len(out) >= want:
            break
        spans = _swappable(q.example.question, q.example.context)
        if not spans:
            continue
        m = rng.choice(spans)
        pool = pools[_kind(m.group())]
        for _ in range(20):
            term, article = pool[rng.randrange(len(pool))]
            if article != q.article and term.lower() not in article_texts[q.article]:
                text = q.example.question
                out.append(Example(text[: m.start()] + term + text[m.end():], q.example.context, None, "",
                                   "near_miss"))
                break
    return out


def paragraph_swaps(questions: list[_Question], contexts: list[list[str]], ratio: float,
                    rng: random.Random) -> list[Example]:
    """Up to ratio x len(questions) questions paired with another paragraph of their article that does not
    contain their answer."""
    out: list[Example] = []
    want = int(len(questions) * ratio)
    for q in questions:
        if len(out) >= want:
            break
        ex = q.example
        others = [c for i, c in enumerate(contexts[q.article])
                  if i != q.paragraph and ex.answer_text.lower() not in c.lower()]
        if others:
            out.append(Example(ex.question, rng.choice(others), None, "", "swap"))
    return out


def questions_of(articles: list[dict[str, Any]]) -> tuple[list[_Question], list[Example]]:
    """The articles' answerable questions (with their first answer) and their real unanswerable ones."""
    positives: list[_Question] = []
    real: list[Example] = []
    for ai, article in enumerate(articles):
        for pi, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    real.append(Example(qa["question"], para["context"], None, "", "real"))
                    continue
                ans = qa["answers"][0]
                positives.append(_Question(Example(qa["question"], para["context"], ans["answer_start"],
                                                   ans["text"]), ai, pi))
    return positives, real


def article_texts(articles: list[dict[str, Any]]) -> list[str]:
    """Each article's paragraphs and title, lower-cased: what a near miss's new term must be absent from."""
    return [(" ".join(p["context"] for p in a["paragraphs"]) + " " + a.get("title", "").replace("_", " ")).lower()
            for a in articles]


def build_examples(articles: list[dict[str, Any]], max_questions: int, near_miss_ratio: float,
                   swap_ratio: float, seed: int) -> list[Example]:
    """Answerable questions (a sample of max_questions), every real unanswerable, near misses and paragraph
    swaps (per sampled answerable question), shuffled."""
    rng = random.Random(seed)
    positives, real = questions_of(articles)
    contexts = [[p["context"] for p in a["paragraphs"]] for a in articles]
    rng.shuffle(positives)
    positives = positives[:max_questions]
    examples = [q.example for q in positives] + real
    examples += near_misses(positives, article_texts(articles), near_miss_ratio, rng)
    examples += paragraph_swaps(positives, contexts, swap_ratio, rng)
    rng.shuffle(examples)
    return examples


@dataclass
class WindowSpec:
    max_length: int
    doc_stride: int
    max_question_tokens: int


_TOKENIZER: Any = None  # set in the parent before forking workers that cut windows


def _windows_of(examples: list[Example], spec: WindowSpec) -> list[dict[str, Any]]:
    tokenizer = _TOKENIZER
    chunk = [e for e in examples if len(tokenizer.tokenize(e.question)) <= spec.max_question_tokens]
    if not chunk:
        return []
    enc = tokenizer(
        [e.question.strip() for e in chunk],
        [e.context for e in chunk],
        truncation="only_second",
        max_length=spec.max_length,
        stride=spec.doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    windows = []
    for w, ex_idx in enumerate(enc["overflow_to_sample_mapping"]):
        ex = chunk[ex_idx]
        seq_ids = enc.sequence_ids(w)
        offsets = enc["offset_mapping"][w]
        start_tok = end_tok = 0
        if ex.answer_start is not None:
            a0, a1 = ex.answer_start, ex.answer_start + len(ex.answer_text)
            ctx = [i for i, s in enumerate(seq_ids) if s == 1]
            if ctx and offsets[ctx[0]][0] <= a0 and offsets[ctx[-1]][1] >= a1:
                start_tok = next(i for i in ctx if offsets[i][1] > a0)
                end_tok = next(i for i in reversed(ctx) if offsets[i][0] < a1)
        windows.append({"input_ids": enc["input_ids"][w], "token_type_ids": enc["token_type_ids"][w],
                        "start": start_tok, "end": end_tok})
    return windows


def _quiet_worker() -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the processes are the parallelism


def featurize(examples: list[Example], tokenizer: Any, spec: WindowSpec, workers: int = 0) -> list[dict[str, Any]]:
    """Tokenize into overlapping windows and label the answer's token positions (0, the CLS token, when
    the window does not hold it). Questions longer than spec.max_question_tokens are dropped. With several
    cores the examples are cut in forked worker processes; the result is the same."""
    global _TOKENIZER
    _TOKENIZER = tokenizer
    chunks = [(examples[b : b + 1024], spec) for b in range(0, len(examples), 1024)]
    workers = workers or min(len(chunks), len(os.sched_getaffinity(0)))
    try:
        if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            return [w for chunk in chunks for w in _windows_of(*chunk)]
        with multiprocessing.get_context("fork").Pool(workers, initializer=_quiet_worker) as pool:
            return [w for part in pool.starmap(_windows_of, chunks) for w in part]
    finally:
        _TOKENIZER = None
