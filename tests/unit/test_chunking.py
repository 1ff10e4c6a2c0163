"""Passages: sentence-aligned, sized in reader tokens, overlapping, with true offsets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qa.ingest.chunking import Chunker, sentence_spans
from qa.records import Article


def _check(chunker: Chunker, text: str) -> None:
    article = Article("a", "T", text)
    passages = chunker.split(article)
    covered = [False] * len(text)
    for p in passages:
        assert p.text == text[p.start : p.end]
        assert p.article_id == "a"
        assert len(chunker.tokenizer(p.text, add_special_tokens=False)["input_ids"]) <= chunker.max_tokens + 2
        for i in range(p.start, p.end):
            covered[i] = True
    lost = [text[i] for i in range(len(text)) if not covered[i] and not text[i].isspace()]
    assert not lost, f"characters outside every passage: {''.join(lost)!r}"


def test_sentence_spans():
    text = 'He said "Go." Then left!  Next line\nsecond line. Done'
    assert [text[s:e] for s, e in sentence_spans(text)] == \
        ['He said "Go."', "Then left!", "Next line", "second line.", "Done"]


def test_passages_are_sentence_aligned_with_overlap(tokenizer):
    sentences = [f"Sentence number {i} talks about topic {i} at some length." for i in range(60)]
    text = " ".join(sentences)
    chunker = Chunker(tokenizer, max_tokens=60, overlap=15)
    passages = chunker.split(Article("a", "T", text))
    assert len(passages) > 5
    for p in passages:
        assert p.text.startswith("Sentence number") and p.text.endswith(".")
    for prev, nxt in zip(passages, passages[1:]):
        assert nxt.start < prev.end, "neighbouring passages overlap"
        assert nxt.start > prev.start
    _check(chunker, text)


def test_very_long_sentence_is_cut(tokenizer):
    text = "word " * 500 + "end."
    chunker = Chunker(tokenizer, max_tokens=64, overlap=8)
    passages = chunker.split(Article("a", "T", text))
    assert len(passages) >= 8
    _check(chunker, text)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=1500))
def test_property_offsets_and_coverage(tokenizer, text):
    _check(Chunker(tokenizer, max_tokens=32, overlap=8), text)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["Alpha beta.", "Gamma!", "Delta?", "\n", "\n\n", "  ", "“Quoted.”", "x" * 50,
                                 "Mr. Smith went", "3.5 million", "Iván Duque"]), max_size=80))
def test_property_sentences_joined(tokenizer, parts):
    _check(Chunker(tokenizer, max_tokens=20, overlap=5), " ".join(parts))
