"""The extractive reader: finds the answer span in passages from start/end logits, or says there is none.

transformers 5 has no question-answering pipeline, so decoding is done here: the question is paired with
each passage, long passages are cut into overlapping windows, all windows go through the model in
batches, and the best start/end pairs inside the passage text are scored against the window's null
(CLS) score.

Precision: on CPUs with AMX (Intel Xeon 4th generation and later) the weights are cast to bfloat16,
whose matrix products run there several times faster than fp32 ones; elsewhere bfloat16 is slower than
fp32, so "auto" keeps fp32. "int8" quantizes the linear layers (dynamic quantization: int8 weights with
a scale per output row, activations quantized per batch): the reader reads 1.7x faster on an AVX2 CPU,
answers move by a few F1 points either way on the small sets, so it is a choice, not the default
(bench/RESULTS.md, "An int8 reader"). Logits are decoded in fp32 either way.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from qa.config import DEFAULT_READER, PRECISIONS, Settings
from qa.errors import SettingsError
from qa.records import Passage, Span

MAX_QUESTION_TOKENS = 64
# Candidates are ranked by margin + MASS_WEIGHT * log(p_start * p_end): the null margin is comparable
# across passages, the in-window probability says whether the window agrees on this one span rather than
# spreading its mass over many. Measured open-domain on 400 XQuAD questions: margin alone F1 73.4,
# this 73.3, probability alone 71.6; on the seed questions 88.4 / 90.2 / 86.4.
MASS_WEIGHT = 4.0


@lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """True when the CPU advertises AMX bfloat16 tiles (Linux /proc/cpuinfo; False where unreadable)."""
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def resolve_precision(precision: str) -> str:
    """"auto" -> "bf16" on CPUs with AMX, else "fp32"; the others as given; anything else is an error."""
    if precision not in PRECISIONS:
        raise SettingsError(f"reader precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if cpu_has_amx() else "fp32"
    return precision


def at_precision(model: Any, precision: str) -> Any:
    """The fp32 model, converted in place, as a resolved `precision` runs it: as is ("fp32"), cast to
    bfloat16, or with its linear layers dynamically quantized to int8 (torch.ao's quantize_dynamic, which
    torch 2.13 keeps while upstream moves quantization to torchao; its deprecation notice about quantized
    tensors is not for users)."""
    import torch

    if precision == "fp32":
        return model
    if precision == "bf16":
        return model.to(torch.bfloat16)
    if precision == "int8":
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r".*quantized tensor creation functions", UserWarning)
            per_channel = torch.ao.quantization.per_channel_dynamic_qconfig  # a scale per output row
            return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear: per_channel},
                                                          dtype=torch.qint8, inplace=True)
    raise SettingsError(f"reader precision {precision!r} is not a resolved one (fp32, bf16, int8)")


class Reader:
    """`Reader().read(question, passages)` -> candidate spans, best first; [] means "no answer"."""

    def __init__(self, model: str = DEFAULT_READER, max_length: int = 384, stride: int = 128,
                 max_answer_tokens: int = 30, null_threshold: float | None = None, top_n: int = 20,
                 batch_size: int = 16, precision: str = "auto") -> None:
        self.model_name = str(model)
        self.precision = resolve_precision(precision)
        self.max_length = max_length
        self.stride = stride
        self.max_answer_tokens = max_answer_tokens
        self.null_threshold = null_threshold  # None: the one stored with the model (see load)
        self.top_n = top_n
        self.batch_size = batch_size
        self._loaded: tuple[Any, Any] | None = None
        self.calibration: dict[str, float] | None = None  # None: the one stored with the model
        self._lock = threading.Lock()
        # A fast tokenizer keeps its padding/truncation mode in shared state that each call resets, so
        # two threads tokenizing with different modes corrupt each other's batch: one at a time.
        self._tokenize_lock = threading.Lock()
        # One forward pass at a time, each on all the intra-op threads: concurrent callers (the chat serves
        # several users at once) would otherwise run several passes on the same cores, oversubscribed.
        self._forward_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Reader:
        """The reader as these settings set it up: the one reader of the pipeline, the evaluation and a
        cluster's replicas alike."""
        s = settings
        return cls(s.reader_model, max_length=s.reader_max_length, stride=s.reader_stride,
                   max_answer_tokens=s.max_answer_tokens, null_threshold=s.null_threshold,
                   precision=s.reader_precision)

    def load(self) -> tuple[Any, Any]:
        """Load (tokenizer, model) once; raises ReaderModelError naming the path on failure."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    from qa.reading.weights import calibration, load, null_threshold

                    if self.calibration is None:
                        self.calibration = calibration(self.model_name)
                    if self.null_threshold is None:
                        self.null_threshold = null_threshold(self.model_name)
                    tokenizer, model = load(self.model_name)
                    self._loaded = tokenizer, at_precision(model, self.precision)
        return self._loaded

    @property
    def tokenizer(self) -> Any:
        return self.load()[0]

    def _question(self, question: str) -> str:
        """Cut a very long question to its first MAX_QUESTION_TOKENS tokens so the passage still fits."""
        tokenizer = self.tokenizer
        with self._tokenize_lock:
            enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        return question if len(offsets) <= MAX_QUESTION_TOKENS else question[: offsets[MAX_QUESTION_TOKENS - 1][1]]

    def read(self, question: str, passages: Sequence[str | Passage], top_n: int | None = None,
             null_threshold: float | None = None) -> list[Span]:
        """Candidate answers across all passages, best first, at most one per (passage, start, end), each
        beating its window's null by `null_threshold` (None: the reader's own)."""
        import torch

        texts = [p if isinstance(p, str) else p.text for p in passages]
        if not question.strip() or not any(t.strip() for t in texts):
            return []
        tokenizer, model = self.load()
        question = self._question(question.strip())
        with self._tokenize_lock:
            enc = tokenizer(
                [question] * len(texts), texts,
                truncation="only_second", max_length=self.max_length, stride=self.stride,
                return_overflowing_tokens=True, return_offsets_mapping=True, padding="longest",
                return_tensors="pt",
            )
        inputs = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        starts, ends = [], []
        with self._forward_lock, torch.inference_mode():
            for b in range(0, len(enc["input_ids"]), self.batch_size):
                out = model(**{k: v[b : b + self.batch_size].to(model.device) for k, v in inputs.items()})
                starts.append(out.start_logits.float().cpu())
                ends.append(out.end_logits.float().cpu())
        start_logits = torch.cat(starts)
        end_logits = torch.cat(ends)

        offsets = enc["offset_mapping"].tolist()
        limit = top_n or self.top_n
        best: dict[tuple[int, int, int], Span] = {}
        for w in range(len(start_logits)):
            pi = int(enc["overflow_to_sample_mapping"][w])
            seq = enc.sequence_ids(w)
            ctx = [i for i, s in enumerate(seq) if s == 1]
            if not ctx:
                continue
            spans = self._window_spans(start_logits[w], end_logits[w], ctx, offsets[w], pi, texts[pi], limit,
                                       self.null_threshold if null_threshold is None else null_threshold)
            for span in spans:
                key = (pi, span.start, span.end)
                if key not in best or best[key].score < span.score:
                    best[key] = span
        ranked = sorted(best.values(), key=lambda s: -s.score)
        return ranked[:limit]

    def _window_spans(self, s: Any, e: Any, ctx: list[int], offsets: Any, pi: int, text: str,
                      limit: int, null_threshold: float) -> list[Span]:
        """The `limit` best spans of one window whose start+end logits beat the null (CLS) logits by
        `null_threshold` (enough for the overall best `limit`: a window never repeats a span)."""
        import numpy as np

        s = s.numpy()
        e = e.numpy()
        idx = np.asarray([0] + ctx)  # CLS (position 0) competes with the passage tokens
        log_ps = _log_softmax(s[idx])
        log_pe = _log_softmax(e[idx])
        null = float(s[0] + e[0])
        n = min(self.top_n, len(ctx))
        top_s = np.argsort(-s[idx[1:]], kind="stable")[:n]  # positions in ctx
        top_e = np.argsort(-e[idx[1:]], kind="stable")[:n]
        margin = s[idx[1:][top_s]][:, None] + e[idx[1:][top_e]][None, :] - null
        length = top_e[None, :] - top_s[:, None] + 1
        ok = (length >= 1) & (length <= self.max_answer_tokens) & (margin > null_threshold)
        rank = margin + MASS_WEIGHT * (log_ps[top_s + 1][:, None] + log_pe[top_e + 1][None, :])
        scale, bias = self.calibration["scale"], self.calibration["bias"]
        rows, cols = np.nonzero(ok)
        spans = []
        for k in np.argsort(-rank[rows, cols], kind="stable"):
            a, b = int(top_s[rows[k]]), int(top_e[cols[k]])
            start, end = int(offsets[ctx[a]][0]), int(offsets[ctx[b]][1])
            answer = text[start:end]
            if not answer.strip() or "\n\n" in answer:  # answers never run across paragraphs
                continue
            r = float(rank[rows[k], cols[k]])
            score = 1.0 / (1.0 + math.exp(-(scale * r + bias)))
            spans.append(Span(answer, score, pi, start, end, float(margin[rows[k], cols[k]])))
            if len(spans) == limit:
                break
        return spans


def _log_softmax(x: Any) -> Any:
    import numpy as np

    z = x - x.max()
    return z - np.log(np.exp(z).sum())
