"""Training data for the reader: the tuning split stays out, negatives are what they claim to be, windows
are labelled at the answer; a distilled student starts from the teacher's layers."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from conftest import ROOT
from qa.training.train import ADVERSARIAL_TEST_TITLES, TUNING_TITLES, TrainConfig, distillation_loss, student_of
from qa.training.data import (Example, WindowSpec, build_examples, featurize, near_misses, paragraph_swaps,
                              select_articles, _Question)


def _article(title: str, source: str, paragraphs: list[tuple[str, list[tuple[str, str | None]]]]) -> dict:
    out = []
    for context, qas in paragraphs:
        rows = []
        for question, answer in qas:
            if answer is None:
                rows.append({"question": question, "answers": [], "is_impossible": True})
            else:
                rows.append({"question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]})
        out.append({"context": context, "qas": rows})
    return {"title": title, "source": source, "paragraphs": out}


ARTICLES = [
    _article("Normans", "squad1.1-train", [
        ("The Normans conquered England in 1066 under William.", [("When did the Normans conquer England?", "1066")]),
        ("Normandy lies in the north of France.", [("Where is Normandy?", "in the north of France")]),
    ]),
    _article("Warsaw", "squad1.1-train", [
        ("Warsaw became the capital of Poland in 1596.", [("When did Warsaw become the capital of Poland?", "1596"),
                                                          ("Who moved the capital to Warsaw in 1596?", None)]),
        ("The Vistula river flows through Warsaw.", [("Which river flows through Warsaw?", "The Vistula river")]),
    ]),
    _article("Economic_inequality", "squad1.1-dev", [
        ("Inequality rose in the 1980s.", [("When did inequality rise?", "in the 1980s")])]),
    _article("Economic_inequality", "squad2.0-dev", [
        ("Inequality rose in the 1980s.", [("When did equality rise?", None)])]),
]


def test_the_tuning_titles_stay_out_of_training_whatever_their_source():
    kept = select_articles(ARTICLES, TrainConfig().sources, TUNING_TITLES)
    assert "Economic_inequality" in TUNING_TITLES.split("|")
    assert [a["title"] for a in kept] == ["Normans", "Warsaw"]
    examples = build_examples(kept, max_questions=100, near_miss_ratio=1.0, swap_ratio=1.0, seed=0)
    assert not any("equality" in e.question for e in examples)
    comma = [{**ARTICLES[0], "title": "Jacksonville,_Florida"}, ARTICLES[1]]
    assert [a["title"] for a in select_articles(comma, "", "Jacksonville,_Florida|Normans")] == ["Warsaw"]
    qed = [{**ARTICLES[0], "title": "Economic inequality", "source": "qed-nq-train"}]
    assert select_articles(qed, "", TUNING_TITLES) == [], "another source's spelling of a held-out title"
    assert sum(e.kind == "real" for e in examples) == 1, "every real unanswerable is kept"


def test_a_near_miss_names_what_its_article_never_mentions_and_keeps_its_paragraph():
    questions = [_Question(Example(q["question"], p["context"], q["answers"][0]["answer_start"],
                                   q["answers"][0]["text"]), ai, pi)
                 for ai, a in enumerate(ARTICLES[:2]) for pi, p in enumerate(a["paragraphs"]) for q in p["qas"]
                 if q["answers"]]
    texts = [" ".join(p["context"] for p in a["paragraphs"]).lower() for a in ARTICLES[:2]]
    made = near_misses(questions, texts, ratio=1.0, rng=random.Random(3))
    assert made, "the two articles give each other names to swap"
    originals = {q.example.context: q for q in questions}
    for ex in made:
        q = originals[ex.context]
        assert ex.answer_start is None and ex.kind == "near_miss"
        before, after = q.example.question.rstrip("?").split(), ex.question.rstrip("?").split()
        head = len(os.path.commonprefix([before, after]))
        tail = len(os.path.commonprefix([before[head:][::-1], after[head:][::-1]]))
        swapped_in = " ".join(after[head: len(after) - tail])
        assert swapped_in and swapped_in.lower() not in texts[q.article], (before, after)


def test_a_paragraph_swap_pairs_a_question_with_a_paragraph_lacking_its_answer():
    questions = [_Question(Example("When did the Normans conquer England?", ARTICLES[0]["paragraphs"][0]["context"],
                                   33, "1066"), 0, 0)]
    contexts = [[p["context"] for p in ARTICLES[0]["paragraphs"]]]
    (swap,) = paragraph_swaps(questions, contexts, ratio=1.0, rng=random.Random(0))
    assert swap.context == contexts[0][1] and "1066" not in swap.context and swap.answer_start is None


def test_windows_are_labelled_at_the_answer_and_the_same_from_worker_processes():
    from qa.reading.weights import load_tokenizer

    tokenizer = load_tokenizer(ROOT / "qa/models/reader")
    context = " ".join(f"Sentence {i} says nothing of note." for i in range(60)) + " The Normans won in 1066."
    examples = [Example("When did the Normans win?", context, context.index("1066"), "1066"),
                Example("When did the Danes win?", context, None, "", "near_miss")] * 3
    spec = WindowSpec(max_length=96, doc_stride=32, max_question_tokens=64)
    windows = featurize(examples, tokenizer, spec, workers=1)
    assert windows == featurize(examples, tokenizer, spec, workers=2)
    labelled = [w for w in windows if w["start"]]
    assert labelled and all(tokenizer.decode(w["input_ids"][w["start"]: w["end"] + 1]) == "1066" for w in labelled)
    assert len(windows) > len(examples), "a long passage is cut into overlapping windows"


def test_a_student_starts_from_the_named_teacher_layers_and_matches_a_teacher_it_copies():
    import torch

    from qa.reading.weights import load

    _, teacher = load(ROOT / "qa/models/reader")
    student = student_of(teacher, [0, 2, 4])
    assert student.config.num_hidden_layers == 3 and len(student.bert.encoder.layer) == 3
    for mine, theirs in zip(student.bert.encoder.layer, [teacher.bert.encoder.layer[i] for i in (0, 2, 4)]):
        assert all(torch.equal(a, b) for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()))
    assert len(teacher.bert.encoder.layer) == 6, "the teacher is left whole"

    batch = {"input_ids": torch.tensor([[101, 2043, 102, 1996, 102, 0]]), "attention_mask": torch.tensor([[1] * 5 + [0]]),
             "start_positions": torch.tensor([3]), "end_positions": torch.tensor([3])}
    with torch.no_grad():
        same = teacher(**batch)
        small = student(**batch)
    taught_only = TrainConfig(distill_weight=1.0, temperature=2.0)
    assert distillation_loss(same, same, batch, taught_only).item() == pytest.approx(0.0, abs=1e-5)
    # By hand: T^2 x the mean of KL(teacher || student) over start and end, at temperature T, padding out.
    kl = 0.0
    for s_logits, t_logits in ((small.start_logits, same.start_logits), (small.end_logits, same.end_logits)):
        p = torch.softmax(t_logits[0, :5] / 2.0, -1)
        kl += float((p * (p.log() - torch.log_softmax(s_logits[0, :5] / 2.0, -1))).sum()) / 2
    mixed = TrainConfig(distill_weight=0.7, temperature=2.0)
    assert distillation_loss(small, same, batch, mixed).item() == pytest.approx(0.3 * small.loss.item() + 0.7 * 4 * kl,
                                                                                 rel=1e-4)
    # Whatever the models say at a padded position does not count.
    for out in (small, same):
        out.start_logits[0, 5] += 50.0
        out.end_logits[0, 5] -= 50.0
    assert distillation_loss(small, same, batch, taught_only).item() == pytest.approx(4 * kl, rel=1e-4)


def test_a_student_may_not_overwrite_its_teacher(tmp_path: Path):
    from qa.training.train import train

    with pytest.raises(ValueError, match="overwrite its teacher"):
        train(TrainConfig(teacher=str(tmp_path / "reader"), out=str(tmp_path / "reader" / ".." / "reader")))


def test_the_tuning_split_is_real_data_and_absent_from_what_training_reads():
    data = ROOT.parent / "shared/data/qa/train.json.gz"
    if not data.is_file():
        pytest.skip("../shared/data/qa is not beside this checkout")
    from qa.training.data import read_articles

    articles = read_articles(str(data))
    titles = set(TUNING_TITLES.split("|"))
    held = [a for a in articles if a["title"] in titles]
    assert {a["source"] for a in held} == {"squad1.1-dev", "squad2.0-dev"} and {a["title"] for a in held} == titles
    kept = select_articles(articles, TrainConfig().sources, TUNING_TITLES)
    assert not [a for a in kept if a["title"].replace(" ", "_") in titles]


def test_the_adversarial_test_articles_stay_out_of_training_by_default():
    """bench/near_miss.py's real adversarial questions are the one unanswerable set no reader trained on."""
    data = ROOT.parent / "shared/data/qa/squad2-train-unanswerable.json.gz"
    if not data.is_file():
        pytest.skip("../shared/data/qa is not beside this checkout")
    from qa.training.data import read_articles

    articles = read_articles(str(data))
    titles = ADVERSARIAL_TEST_TITLES.split("|")
    assert [a["title"] for a in articles[: len(titles)]] == titles, "the first articles of the file"
    kept = select_articles(articles, TrainConfig().sources, TrainConfig().holdout_titles)
    assert len(kept) == len(articles) - len(titles)
    assert not {a["title"] for a in kept} & set(titles)
    assert set(TUNING_TITLES.split("|")) <= set(TrainConfig().holdout_titles.split("|"))


def test_training_refuses_a_base_encoder_that_lacks_its_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """transformers starts missing weights from random values with a warning; a run from such a base
    trains a reader from scratch for hours (it happened: XQuAD F1 31 instead of 80)."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from qa.reading.weights import ReaderModelError, base_encoder_path
    from qa.training.train import _models

    base = base_encoder_path()
    weights = load_file(str(base / "model.safetensors"))
    _, model, teacher = _models(TrainConfig())
    query = next(v for k, v in weights.items() if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert teacher is None and torch.equal(model.bert.encoder.layer[0].attention.self.query.weight, query.float())
    stripped = tmp_path / "base"
    shutil.copytree(base, stripped)
    save_file({k: v for k, v in weights.items() if "word_embeddings" in k}, str(stripped / "model.safetensors"))
    monkeypatch.setenv("QA_BASE_ENCODER", str(stripped))
    with pytest.raises(ReaderModelError, match="lacks .* of its weights"):
        _models(TrainConfig())
