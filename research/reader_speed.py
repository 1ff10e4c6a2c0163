"""Reader speed: our batched decoding vs a naive baseline, side by side in one run.

Baseline: the same model, one passage per forward pass, fp32, padded to 384-token windows.
Ours: `Reader.read` (all windows of all passages in one batch, padded to the longest).
Input: 5 passages of ~200 tokens from the seed corpus and the seed question.

A finished study; its findings: bench/RESULTS.md, "Reader speed vs a naive baseline".
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTION = "What do major non-NATO allies receive?"
REPEATS = 20


def passages(tokenizer) -> list[str]:
    from qa.ingest.chunking import Chunker
    from qa.ingest.files import read_corpus

    chunker = Chunker(tokenizer, 200, 40)
    out = [p.text for a in read_corpus(ROOT / "corpus").articles for p in chunker.split(a)]
    return out[:5]


def naive(tokenizer, model, question: str, texts: list[str]) -> tuple[str, float]:
    import torch

    best = ("", float("-inf"))
    for text in texts:
        enc = tokenizer(question, text, truncation="only_second", max_length=384, padding="max_length",
                        return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")[0]
        with torch.no_grad():
            out = model(**enc)
        s, e = int(out.start_logits[0].argmax()), int(out.end_logits[0].argmax())
        score = float(out.start_logits[0, s] + out.end_logits[0, e])
        if e >= s and score > best[1]:
            best = (text[int(offsets[s][0]) : int(offsets[e][1])], score)
    return best


def timed(fn, repeats: int = REPEATS) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    import torch

    from qa.config import Settings
    from qa.reading.reader import Reader

    reader = Reader(Settings().reader_model)
    tokenizer, model = reader.load()
    texts = passages(tokenizer)
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; passages of {lengths} tokens")
    base = timed(lambda: naive(tokenizer, model, QUESTION, texts))
    ours = timed(lambda: reader.read(QUESTION, texts))
    print(f"naive baseline (1 passage/forward, 384 padded): {1000 * base:.0f} ms  -> "
          f"{naive(tokenizer, model, QUESTION, texts)[0]!r}")
    spans = reader.read(QUESTION, texts)
    print(f"ours (batched, padded to longest):             {1000 * ours:.0f} ms  -> "
          f"{spans[0].text if spans else None!r}")
    print(f"speed-up: {base / ours:.2f}x")


if __name__ == "__main__":
    main()
