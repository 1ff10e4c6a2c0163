"""Print a sample of the training near misses next to their originals, to read by hand.

    python research/near_miss_sample.py [--n 100] [--seed 2026] [--pool 20000]

Draws `--pool` answerable questions from `qa train-reader`'s default data (its sources, the hold-out left
out), makes near misses of them exactly as training does (qa.training_data.near_misses: a name or number
swapped for one of the same kind that the article never mentions) and prints the first `--n`, each with
the question it was made from, that question's answer and the answer's sentence. Whether each is truly
unanswerable from its paragraph is for the reader of the printout to judge (bench/RESULTS.md has the
counts).

A finished study; its findings: research/FINDINGS.md, "The reader: an answerability probe, and runs 5 to 6d" (the training near misses read by hand).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _shared_ends(a: str, b: str) -> int:
    """How many characters two strings share at their start and end together."""
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    j = 0
    while j < min(len(a), len(b)) - i and a[-1 - j] == b[-1 - j]:
        j += 1
    return i + j


def answer_sentence(context: str, start: int, answer: str) -> str:
    """The sentence of `context` that holds the answer (roughly: between ". " marks)."""
    begin = context.rfind(". ", 0, start) + 1
    end = context.find(". ", start + len(answer))
    return context[begin: len(context) if end < 0 else end + 1].strip()


def main() -> None:
    from qa.training.train import TrainConfig
    from qa.training.data import article_texts, near_misses, questions_of, read_articles, select_articles

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pool", type=int, default=20000)
    args = parser.parse_args()

    cfg = TrainConfig()
    data = ",".join(p for p in cfg.data.split(",") if not p.endswith("unanswerable.json.gz"))
    articles = select_articles(read_articles(data), cfg.sources, cfg.holdout_titles)
    rng = random.Random(args.seed)
    questions = questions_of(articles)[0]
    rng.shuffle(questions)  # a sample as training draws one
    questions = questions[: args.pool]
    made = near_misses(questions, article_texts(articles), (args.n + 20) / len(questions), rng)[: args.n]
    by_context: dict[str, list] = {}
    for q in questions:
        by_context.setdefault(q.example.context, []).append(q.example)
    for k, miss in enumerate(made, 1):
        original = max(by_context[miss.context], key=lambda o: _shared_ends(o.question, miss.question))
        print(f"{k}. near miss: {miss.question}\n   original:  {original.question} -> {original.answer_text}\n"
              f"   sentence:  {answer_sentence(original.context, original.answer_start, original.answer_text)[:300]}")


if __name__ == "__main__":
    main()
