"""The trained reader with real weights, loaded offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import SEED_CORPUS, SEED_QUESTION
from qa.config import DEFAULT_READER
from qa.reading.reader import Reader
from qa.reading.weights import ReaderModelError

CNN_TEXT = next(SEED_CORPUS.glob("biden-*.txt")).read_text()


def test_seed_answer_from_the_whole_article(reader):
    spans = reader.read(SEED_QUESTION, [CNN_TEXT])
    assert spans and spans[0].text == "material and supply loans"
    assert CNN_TEXT[spans[0].start : spans[0].end] == spans[0].text
    assert 0 < spans[0].score <= 1


def test_no_answer_when_the_passage_lacks_it(reader):
    assert reader.read("What is the capital of Colombia?", [CNN_TEXT]) == []


def test_answer_beyond_the_first_window(reader):
    filler = " ".join(f"The council met on day {i} and discussed the budget for parks." for i in range(60))
    text = filler + " The new mayor of Springfield is Helen Okafor, elected in May."
    spans = reader.read("Who is the new mayor of Springfield?", ["Nothing here.", text])
    assert spans[0].text == "Helen Okafor"
    assert spans[0].passage_index == 1
    assert spans[0].start > 2000 and text[spans[0].start : spans[0].end] == "Helen Okafor"


def test_spans_never_come_from_the_question(reader):
    spans = Reader(DEFAULT_READER, null_threshold=float("-inf")).read(
        "Is Helen Okafor the mayor?", ["The weather was mild."])
    assert all(s.text in "The weather was mild." for s in spans)


def test_custom_model_directory_loads(tmp_path: Path):
    copy = tmp_path / "my-reader"
    shutil.copytree(DEFAULT_READER, copy)
    spans = Reader(str(copy)).read(SEED_QUESTION, [CNN_TEXT])
    assert spans[0].text == "material and supply loans"


def test_the_null_threshold_stored_with_a_model_holds_unless_one_is_given(tmp_path: Path, monkeypatch):
    import json

    from qa.config import Settings

    copy = tmp_path / "strict-reader"
    shutil.copytree(DEFAULT_READER, copy)
    info = json.loads((copy / "qa_reader.json").read_text())
    info["null_threshold"] = {"value": 50.0, "chosen_on": "a test: no span beats its null by 50"}
    (copy / "qa_reader.json").write_text(json.dumps(info))
    assert Reader(str(copy)).read(SEED_QUESTION, [CNN_TEXT]) == []
    assert Reader(str(copy), null_threshold=0.0).read(SEED_QUESTION, [CNN_TEXT])[0].text == "material and supply loans"
    assert Settings.load().null_threshold is None, "by default the model's own"
    monkeypatch.setenv("QA_NULL_THRESHOLD", "-1.5")
    assert Settings.load().null_threshold == -1.5
    info["null_threshold"] = {"value": "high"}
    (copy / "qa_reader.json").write_text(json.dumps(info))
    with pytest.raises(ReaderModelError, match="qa_reader.json.*null_threshold"):
        Reader(str(copy)).load()


def test_a_saved_reader_keeps_no_padding_or_truncation_mode_of_its_tokenizer(tmp_path: Path):
    import json

    from qa.reading.weights import load, save_shipped

    tokenizer, model = load(DEFAULT_READER)
    tokenizer(["a question"], ["a passage"], truncation="longest_first", max_length=16, padding="max_length")
    save_shipped(model, tokenizer, tmp_path / "saved", {"note": "a test"})
    saved = json.loads((tmp_path / "saved" / "tokenizer.json").read_text())
    assert saved["truncation"] is None and saved["padding"] is None
    assert Reader(str(tmp_path / "saved")).read(SEED_QUESTION, [CNN_TEXT])[0].text == "material and supply loans"


def test_missing_model_directory_is_a_clear_error(tmp_path: Path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ReaderModelError, match=str(missing)):
        Reader(str(missing)).load()


def test_corrupt_weights_are_a_clear_error(tmp_path: Path):
    copy = tmp_path / "broken-reader"
    shutil.copytree(DEFAULT_READER, copy)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ReaderModelError, match="broken-reader"):
        Reader(str(copy)).load()


def test_spans_never_cross_paragraphs(reader):
    # The article's opening: a headline line, a dateline, then the first paragraph, all naming Thursday.
    text = (SEED_CORPUS / "biden-designates-colombia-major-non-nato-ally.txt").read_text(encoding="utf-8")[:600]
    spans = reader.read("When did Duque meet Biden?", [text], top_n=50)
    assert spans and spans[0].text == "Thursday"
    assert all("\n\n" not in s.text for s in spans)


def test_the_shipped_format_loads_in_fp32_whatever_dtype_its_config_names(tmp_path: Path):
    """A model trained from fp16 base weights records dtype float16; loaded so, it would run in fp16 on
    the CPU (slow, and not the figures measured)."""
    import json

    import torch

    from qa.reading.weights import load

    copy = tmp_path / "reader"
    shutil.copytree(DEFAULT_READER, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "dtype": "float16"}))
    _, model = load(copy)
    assert model.dtype == torch.float32
