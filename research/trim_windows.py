"""Does reading only the sentences around the question's words pay? A measurement (issue 14), not a
feature: each retrieved passage is cut to its best-matching sentence and the neighbours that share the
most question words, up to FRACTION of its characters, before the reader sees it.

    python research/trim_windows.py 0 0.5 0.6 0.75     # fractions; 0 = the whole passage (today)

Three question sets, open-domain through ask() with the default settings: 300 XQuAD questions that the
quality gate does not use (tuning), the gate's 300 (`qa eval bench/data/xquad-dev.json --limit 300`) and
the seed set (tests/data/seed_questions.jsonl, news). Printed per fraction: HasAns F1 / EM, no-answer
accuracy, characters the reader read, and the ask() p50.

A finished study; its findings: research/FINDINGS.md, "Reading only some sentences, and the question's embedding".
"""

from __future__ import annotations

import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.reading import reader as reader_module  # noqa: E402
from qa.ingest.chunking import sentence_spans  # noqa: E402

# qa.store.keywords.STOP_WORDS plus question words: the keyword search keeps "who"/"when" (they find
# passages that answer), but here they would tie every sentence that happens to contain them.
STOP = set("""the a an of in on at to for by with from and or is are was were be been do does did what which who
whom whose when where why how that this these those it its as than into about during after before many much""".split())
WORD = re.compile(r"\w+")


def _stems(text: str) -> set[str]:
    return {w.lower()[:5] for w in WORD.findall(text) if w.lower() not in STOP}


def trim(question: str, text: str, fraction: float) -> tuple[str, int]:
    """(the kept sentences, their offset in text): the sentence sharing the most question words, grown
    by whichever neighbour shares more, while the cut stays within `fraction` of the passage."""
    sentences = sentence_spans(text)
    if len(sentences) <= 2:
        return text, 0
    asked = _stems(question)
    overlap = [len(asked & _stems(text[s:e])) for s, e in sentences]
    lo = hi = max(range(len(sentences)), key=overlap.__getitem__)
    while True:
        grow = [(overlap[j], j > hi, j) for j in (lo - 1, hi + 1) if 0 <= j < len(sentences)]
        if not grow:
            break
        j = max(grow)[2]
        new_lo, new_hi = min(lo, j), max(hi, j)
        if sentences[new_hi][1] - sentences[new_lo][0] > fraction * len(text):
            break
        lo, hi = new_lo, new_hi
    return text[sentences[lo][0]:sentences[hi][1]], sentences[lo][0]


def patch_reader(fraction: list[float], read_chars: list[int]) -> None:
    """Make Reader.read cut its passages to fraction[0] first (0: whole) and count the characters it reads."""
    original = reader_module.Reader.read

    def read(self, question, passages, top_n=None):
        texts = [p if isinstance(p, str) else p.text for p in passages]
        cuts = [trim(question, t, fraction[0]) if fraction[0] else (t, 0) for t in texts]
        read_chars.append(sum(len(c) for c, _ in cuts))
        spans = original(self, question, [c for c, _ in cuts], top_n)
        for span in spans:  # back to offsets in the whole passage
            offset = cuts[span.passage_index][1]
            span.start += offset
            span.end += offset
        return spans

    reader_module.Reader.read = read


def main() -> None:
    from qa.config import Settings
    from qa.training.evaluate import evaluate_questions, read_questions, squad_to_corpus
    from qa.pipeline import Pipeline

    fractions = [float(f) for f in sys.argv[1:]] or [0.0, 0.6]
    work = Path(tempfile.mkdtemp(prefix="qa-trim-"))
    xquad = squad_to_corpus(ROOT / "bench/data/xquad-dev.json", work / "corpus")
    gate = random.Random(0).sample(xquad, 300)
    gate_ids = set(map(id, gate))
    tuning = random.Random(1).sample([r for r in xquad if id(r) not in gate_ids], 300)
    sets = {"XQuAD tuning 300": (tuning, work / "corpus", work / "index"),
            "XQuAD gate 300": (gate, work / "corpus", work / "index"),
            "seed set": (read_questions(ROOT / "tests/data/seed_questions.jsonl"), ROOT / "corpus", work / "seed-index")}
    read_chars: list[int] = []
    current = [0.0]
    patch_reader(current, read_chars)
    print("| fraction | set | HasAns F1 / EM | no-answer | characters read | ask p50 |\n|---|---|---|---|---|---|")
    for fraction in fractions:
        for name, (rows, corpus, index) in sets.items():
            pipeline = Pipeline(Settings.load(corpus_dir=corpus, index_dir=index), log=lambda m: None)
            pipeline.ensure_index()
            current[0] = fraction
            read_chars.clear()
            t = time.perf_counter()
            r = evaluate_questions(pipeline, rows).to_dict()
            print(f"| {fraction} | {name} | {r['has_ans_f1']} / {r['has_ans_em']} | {r['no_ans_acc']} | "
                  f"{sum(read_chars):,} | {r['latency_ms_p50']} ms ({time.perf_counter() - t:.0f} s) |", flush=True)


if __name__ == "__main__":
    main()
