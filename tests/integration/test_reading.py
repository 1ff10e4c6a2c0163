"""Adaptive reading and reader precision, with the real models over the seed corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SEED_QUESTION
from qa.config import DEFAULT_READER
from qa.reading.reader import Reader
from qa.reading.adaptive import read_passages

UNANSWERABLE = "What is the capital of Colombia?"


@pytest.fixture
def seed_hits(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    pipe.ensure_index()
    return pipe, pipe.retriever().run(SEED_QUESTION, 5)


def test_adaptive_reading_reads_fewer_passages_for_the_same_answer(seed_hits):
    pipe, hits = seed_hits
    passages = [h.passage for h in hits]
    adaptive = read_passages(pipe.reader, SEED_QUESTION, passages, "adaptive", first=2, confidence=0.8)
    full = read_passages(pipe.reader, SEED_QUESTION, passages, "full")
    assert adaptive.passages_read == 2 and full.passages_read == 5
    assert adaptive.spans[0].text == full.spans[0].text == "material and supply loans"
    assert adaptive.spans[0].passage_index == full.spans[0].passage_index
    assert all(s.passage_index < 2 for s in adaptive.spans)


def test_an_unconfident_first_batch_reads_the_rest_and_ranks_all_together(seed_hits):
    pipe, hits = seed_hits
    passages = [h.passage for h in hits]
    unanswerable = read_passages(pipe.reader, UNANSWERABLE, passages, "adaptive", first=2, confidence=0.8)
    assert unanswerable.passages_read == 5 and unanswerable.spans == []
    # Demanding more confidence than any span has: everything is read, and the ranking is a full read's.
    strict = read_passages(pipe.reader, SEED_QUESTION, passages, "adaptive", first=1, confidence=1.0)
    full = read_passages(pipe.reader, SEED_QUESTION, passages, "full")
    assert strict.passages_read == 5
    assert [(s.text, s.passage_index) for s in strict.spans[:5]] == [(s.text, s.passage_index) for s in full.spans[:5]]


def test_the_read_mode_setting_restores_full_reading(corpus_dir: Path, make_pipeline):
    # Alternatives can only come from the passages that were read.
    adaptive_pipe = make_pipeline(corpus_dir)
    adaptive_pipe.ensure_index()
    full_pipe = make_pipeline(corpus_dir, read_mode="full")
    hits = adaptive_pipe.retriever().run(SEED_QUESTION, 5)
    ranks = {(h.passage.article_id, h.passage.start, h.passage.end): r for r, h in enumerate(hits)}

    def read_ranks(answer):
        return {r for (article, start, end), r in ranks.items() for a in [answer, *answer.alternatives]
                if a.article == article and start <= a.start and a.end <= end}

    adaptive, full = adaptive_pipe.ask(SEED_QUESTION), full_pipe.ask(SEED_QUESTION)
    assert adaptive.text == full.text == "material and supply loans"
    assert max(read_ranks(adaptive)) < 2 <= max(read_ranks(full))


def test_unknown_read_mode_names_the_choices(seed_hits):
    pipe, hits = seed_hits
    with pytest.raises(ValueError, match="adaptive, full"):
        read_passages(pipe.reader, SEED_QUESTION, [h.passage for h in hits], "fast")


def test_bf16_and_fp32_readers_agree_on_the_seed_answer(seed_hits):
    import torch

    _, hits = seed_hits
    passages = [h.passage for h in hits]
    fp32, bf16 = Reader(DEFAULT_READER, precision="fp32"), Reader(DEFAULT_READER, precision="bf16")
    assert fp32.load()[1].dtype == torch.float32 and bf16.load()[1].dtype == torch.bfloat16
    a, b = fp32.read(SEED_QUESTION, passages)[0], bf16.read(SEED_QUESTION, passages)[0]
    assert a.text == b.text == "material and supply loans"
    assert abs(a.score - b.score) < 0.02


def test_an_int8_reader_runs_quantized_and_answers_as_fp32_does(seed_hits):
    import torch

    pipe, hits = seed_hits
    int8 = Reader(DEFAULT_READER, precision="int8")
    assert int8.load()[1].bert.encoder.layer[0].attention.self.query.weight().dtype == torch.qint8
    assert isinstance(pipe.reader.load()[1].bert.encoder.layer[0].attention.self.query, torch.nn.Linear)
    passages = [h.passage for h in hits]
    ours, fp32 = read_passages(int8, SEED_QUESTION, passages), read_passages(pipe.reader, SEED_QUESTION, passages)
    assert ours.spans[0].text == fp32.spans[0].text == "material and supply loans"
    assert abs(ours.spans[0].score - fp32.spans[0].score) < 0.05
    assert read_passages(int8, UNANSWERABLE, passages).spans == []  # the passages do not say


def test_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="auto, fp32, bf16, int8"):
        Reader(DEFAULT_READER, precision="int4")
