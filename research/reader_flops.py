"""The reader's achieved GFLOP/s against this machine's matrix-multiply peak, measured in the same run.

    python research/reader_flops.py

Input: the seed question with the first 2 and all 5 retrieved-size passages of the seed corpus (the
adaptive and the full read). The reader's FLOPs are counted from its shapes (2 per multiply-add over
the padded batch: Q/K/V/output projections, feed-forward, attention scores and mixing, the span head).
Peaks: a plain GEMM of the feed-forward shape (tokens x hidden @ hidden x 4 hidden) in fp32, bf16 and
int8 (torch._int_mm, int32 accumulation), same threads. Also times the reader with torch's dynamic
int8 quantisation of its linear layers, to show whether int8 pays here. Medians of 20.

A finished study; its findings: bench/RESULTS.md, "Reading faster".
"""

from __future__ import annotations

import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTION = "What do major non-NATO allies receive?"
REPEATS = 20


def timed(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def reader_flops(config: Any, batch: int, seq: int) -> float:
    """Forward FLOPs of a BERT-style QA model on a padded batch (embeddings' lookups are free)."""
    h, ffn, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token = layers * (2 * 4 * h * h + 2 * 2 * h * ffn + 2 * 2 * seq * h) + 2 * h * 2
    return batch * seq * per_token


def gemm_peak(m: int, k: int, n: int, dtype: Any) -> float:
    import torch

    if dtype == torch.int8:
        a = torch.randint(-128, 127, (m, k), dtype=torch.int8)
        b = torch.randint(-128, 127, (k, n), dtype=torch.int8)
        return 2 * m * k * n / timed(lambda: torch._int_mm(a, b)) / 1e9
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    return 2 * m * k * n / timed(lambda: a @ b) / 1e9


def main() -> None:
    import torch

    from qa.ingest.chunking import Chunker
    from qa.ingest.files import read_corpus
    from qa.reading.reader import Reader, cpu_has_amx

    fp32 = Reader(precision="fp32")
    tokenizer, model32 = fp32.load()
    model16 = copy.deepcopy(model32).to(torch.bfloat16)
    model8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model32), {torch.nn.Linear}, dtype=torch.qint8)
    chunker = Chunker(tokenizer, 200, 40)
    texts = [p.text for a in read_corpus(ROOT / "corpus").articles for p in chunker.split(a)][:5]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, AMX: {cpu_has_amx()}")
    cfg = model32.config
    for n in (2, 5):
        enc = tokenizer([QUESTION] * n, texts[:n], padding="longest", return_tensors="pt")
        inputs = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        batch, seq = inputs["input_ids"].shape
        flops = reader_flops(cfg, batch, seq)
        m = batch * seq
        peaks = {name: gemm_peak(m, cfg.hidden_size, cfg.intermediate_size, dt)
                 for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("int8", torch.int8))}
        print(f"{n} windows, {batch} x {seq} tokens = {flops / 1e9:.1f} GFLOP; GEMM {m}x{cfg.hidden_size}"
              f"x{cfg.intermediate_size} peak: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()))
        with torch.inference_mode():
            for name, model, peak in (("fp32", model32, peaks["fp32"]), ("bf16", model16, peaks["bf16"]),
                                      ("int8 dynamic", model8, peaks["int8"])):
                seconds = timed(lambda: model(**inputs))
                rate = flops / seconds / 1e9
                print(f"  reader {name:12s} {1000 * seconds:6.1f} ms = {rate:5.0f} GFLOP/s "
                      f"({100 * rate / peak:.0f} % of the {name.split()[0]} GEMM peak)")


if __name__ == "__main__":
    main()
