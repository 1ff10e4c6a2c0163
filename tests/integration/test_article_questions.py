"""Real news questions with the real models, over two CNN stories of the news dev set (tests/data/news):
a question asked about one story is answered with that story's best span, however unsure the reader is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT

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
