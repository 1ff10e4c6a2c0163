"""Embedding throughput for indexing against this machine's fp32 matrix-multiply peak, in one run.

    python research/embed_speed.py

Texts: the XQuAD paragraphs (205 distinct, real, varied lengths). Reports passages/s and real (non-padding)
tokens/s of `Embedder.encode`, the padding it carries (sentence-transformers sorts texts by length
before cutting batches, so each batch is padded only to its own longest text), and the achieved
GFLOP/s on real tokens against a same-run fp32 GEMM of the feed-forward shape.

A finished study; its findings: bench/RESULTS.md, "Reading faster" (the embedder against the fp32 peak).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reader_flops import gemm_peak, reader_flops  # noqa: E402  (same folder)


def padding(lengths: list[int], batch: int) -> float:
    """Percentage of computed tokens that are padding when batches are cut from `lengths` in order."""
    computed = sum(max(lengths[i : i + batch]) * len(lengths[i : i + batch]) for i in range(0, len(lengths), batch))
    return 100 * (computed - sum(lengths)) / computed


def main() -> None:
    import torch

    from qa.config import DEFAULT_EMBEDDER
    from qa.retrieval.embedding import Embedder

    data = json.loads((ROOT / "bench/data/xquad-dev.json").read_text(encoding="utf-8"))["data"]
    texts = [p["context"] for a in data for p in a["paragraphs"]]
    embedder = Embedder(DEFAULT_EMBEDDER)
    model = embedder.model
    tokenizer, max_len = model.tokenizer, model.max_seq_length
    lengths = [min(max_len, len(ids)) for ids in tokenizer(texts)["input_ids"]]
    b = embedder.batch_size
    sorted_pad, file_order_pad = padding(sorted(lengths, reverse=True), b), padding(lengths, b)
    embedder.encode(texts[:8], progress=False)  # load and warm
    t = time.perf_counter()
    embedder.encode(texts, progress=False)
    seconds = time.perf_counter() - t
    config = model[0].auto_model.config
    flops = sum(reader_flops(config, 1, n) for n in lengths)
    peak = gemm_peak(b * 128, config.hidden_size, config.intermediate_size, torch.float32)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(texts)} passages, "
          f"{sum(lengths)} tokens (mean {sum(lengths) / len(lengths):.0f}), batches of {b}")
    print(f"padding: {sorted_pad:.1f} % of the tokens computed with length-sorted batches "
          f"({file_order_pad:.1f} % if batches were cut in file order)")
    print(f"encode: {len(texts) / seconds:.1f} passages/s, {sum(lengths) / seconds:.0f} tokens/s, "
          f"{flops / seconds / 1e9:.0f} GFLOP/s on real tokens = {100 * flops / seconds / 1e9 / peak:.0f} % "
          f"of the same-run fp32 GEMM peak ({peak:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
