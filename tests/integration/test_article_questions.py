"""Real news questions with the real models, over two CNN stories of the news dev set (tests/data/news):
a question asked about one story is answered with that story's best span, however unsure the reader is;
a question that names nothing is served with a lower score than the reader's (and the calibration refit
still sees the reader's own)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from qa.reading.answers import VAGUE_LOGIT

NEWS = ROOT / "tests/data/news"
LIONS, TUNISIA = "f23dcbb9169d", "fb9db9f8e011"


@pytest.fixture
def stories(tmp_path: Path) -> Path:
    corpus = tmp_path / "news"
    corpus.mkdir()
    for story in NEWS.glob("*.txt"):
        shutil.copy(story, corpus)
    return corpus


def test_a_question_about_one_story_gets_its_best_span(stories: Path, make_pipeline):
    pipe = make_pipeline(stories)
    position = pipe.ask("What position does he play?", article=LIONS)
    assert (position.text, position.article) == ("fullback", LIONS)
    assert position.score < 0.5  # unsure, and it says so
    assert pipe.ask("How long was the outcast leader in leadership?", article=TUNISIA).text == "23 years"
    strict = make_pipeline(stories, article_null_threshold=0.0)  # as surely as an open question must
    assert strict.ask("What position does he play?", article=LIONS).text is None


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_a_question_that_names_nothing_is_served_less_sure_than_the_reader_is(stories: Path, make_pipeline):
    pipe = make_pipeline(stories)
    vague = pipe.ask("Where did this happen?", article=TUNISIA)
    span = pipe.read("Where did this happen?", vague.passages, float("-inf"))[0]
    assert vague.text == span.text and vague.score < span.score
    assert abs(_logit(vague.score) - (_logit(span.score) + VAGUE_LOGIT)) < 1e-6
    asked = "How long was the outcast leader in leadership?"  # names what it asks about: as the reader says
    specific = pipe.ask(asked, article=TUNISIA)
    assert specific.score == pipe.read(asked, specific.passages, float("-inf"))[0].score


def test_the_calibration_refit_sees_the_readers_own_rank_behind_a_vague_questions_score(stories: Path, tmp_path: Path,
                                                                                        make_pipeline):
    from qa.config import Settings
    from qa.reading.weights import calibration
    from qa.training.evaluate import QuestionRow
    from qa.training.tune import served_answers

    asked = "Who is the coach?"  # vague: its served score is discounted
    settings = Settings.load(corpus_dir=stories, index_dir=tmp_path / "refit-index")
    (served,) = served_answers(settings, [QuestionRow(asked, ["Warren Gatland"], True, "")])
    pipe = make_pipeline(stories, read_mode="full")
    answer = pipe.ask(asked)
    span = pipe.read(asked, answer.passages)[0]
    cal = calibration(settings.reader_model)
    assert served.text == answer.text == span.text == "Warren Gatland" and answer.score < span.score
    assert abs(served.rank - (_logit(span.score) - cal["bias"]) / cal["scale"]) < 1e-6
