"""What the archive's size does to answers: XQuAD open-domain with and without 20,000 real distractor
articles, all embedded for real (about 20 minutes of embedding on 2 cores).

    python bench/retrieval_scale.py [--distractors 20000] [--questions 300]

Distractors are real paragraphs (SQuAD-format training data in ../shared/data, each one an article, none
from XQuAD's articles). Reports retrieval recall@5, MRR and answer EM/F1 on the same questions.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--distractors", type=int, default=20_000)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/qa/train.json.gz"))
    args = ap.parse_args()

    from index_build import paragraphs, write_corpus
    from qa.config import Settings
    from qa.training.evaluate import evaluate_questions, squad_to_corpus
    from qa.pipeline import Pipeline

    work = Path(tempfile.mkdtemp(prefix="qa-retrieval-"))
    try:
        rows = squad_to_corpus(ROOT / "bench/data/xquad-dev.json", work / "corpus")
        rows = random.Random(0).sample(rows, min(args.questions, len(rows)))
        results = {}
        for label, extra in (("XQuAD alone", 0), (f"XQuAD + {args.distractors:,} distractors", args.distractors)):
            if extra:
                write_corpus(work / "distractors", paragraphs(Path(args.data), extra))
                for f in (work / "distractors").iterdir():
                    f.rename(work / "corpus" / f"distractor-{f.name}")
            pipe = Pipeline(Settings.load(corpus_dir=work / "corpus", index_dir=work / "index"), log=lambda m: None)
            t = time.perf_counter()
            report = pipe.build_index()
            print(f"{label}: {report.articles_total:,} articles, {report.passages_total:,} passages "
                  f"({report.index_type}); built in {time.perf_counter() - t:.0f}s", flush=True)
            r = evaluate_questions(pipe, rows, progress=False).to_dict()
            results[label] = {k: r[k] for k in ("has_ans_em", "has_ans_f1", "retrieval_recall_at_k", "retrieval_mrr",
                                                 "latency_ms_p50")}
            print(f"  {json.dumps(results[label])}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
