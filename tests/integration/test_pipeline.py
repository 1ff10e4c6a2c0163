"""ask() end to end with the real models and a real index."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CNN_ARTICLE, SEED_QUESTION
from qa.ingest.files import read_corpus
from qa.errors import QuestionError


def test_seed_question_answered_from_the_right_article(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    answer = pipe.ask(SEED_QUESTION)  # builds the missing index itself
    assert answer.text == "material and supply loans"
    assert answer.article == CNN_ARTICLE
    article = {a.id: a for a in read_corpus(corpus_dir).articles}[CNN_ARTICLE]
    assert article.text[answer.start : answer.end] == answer.text
    assert answer.title == article.title
    assert 0 < answer.score <= 1
    assert answer.text in answer.context
    assert article.text[answer.context_start : answer.context_start + len(answer.context)] == answer.context
    assert answer.passages and answer.passages[0].passage.text
    for alt in answer.alternatives:
        assert alt.text != answer.text and alt.score <= answer.score


def test_unanswerable_question_gives_no_answer(corpus_dir: Path, make_pipeline):
    answer = make_pipeline(corpus_dir).ask("What is the capital of Colombia?")
    assert answer.text is None
    assert answer.passages, "the closest passages are still returned"


def test_ask_sees_a_new_article_once_indexed(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    pipe.ask(SEED_QUESTION)
    (corpus_dir / "mars-rover.md").write_text(
        "# Rover finds ice on Mars\n\nThe rover Perseverance found water ice near the Jezero crater "
        "on Tuesday, mission scientist Dr. Alma Ruiz told reporters in Pasadena.\n")
    pipe.build_index()  # what the chat server's watcher does on its own
    answer = pipe.ask("Which crater did the rover find ice near?")
    assert answer.article == "mars-rover"
    assert "Jezero" in answer.text


@pytest.mark.parametrize("question, message", [
    ("", "empty"), ("   \n\t ", "empty"), ("?!...", "no words"), ("x" * 5000, "too long"), (None, "must be text"),
])
def test_bad_questions_get_clear_errors(corpus_dir: Path, make_pipeline, question, message):
    with pytest.raises(QuestionError, match=message):
        make_pipeline(corpus_dir).ask(question)


def test_follow_up_is_answered_from_the_conversation(corpus_dir: Path, make_pipeline):
    """The issue's example: "June", then "And where is it held?" -> Los Angeles, from the same sentence."""
    pipe = make_pipeline(corpus_dir)
    first = pipe.ask("When does Biden plan to attend the summit?")
    assert first.text and "June" in first.text and first.resolved_question == first.question
    follow = pipe.ask("And where is it held?", history=[first])
    assert follow.text == "Los Angeles"
    assert follow.question == "And where is it held?"
    assert "summit" in follow.resolved_question.lower() and " it " not in follow.resolved_question
    # A plain question string works as history too (with no answer text, names cannot be told apart:
    # "Biden" in a string history could be what "it" means, so this one names the summit).
    assert pipe.ask("And where is it held?", history=["When will the Summit of the Americas be held?"]).text == "Los Angeles"


def test_a_standalone_question_is_not_changed_by_history(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    previous = pipe.ask("Who is the president of Venezuela?")
    answer = pipe.ask(SEED_QUESTION, history=[previous])
    assert answer.resolved_question == SEED_QUESTION and answer.text == "material and supply loans"


def test_history_of_the_wrong_type_is_refused(corpus_dir: Path, make_pipeline):
    with pytest.raises(TypeError, match="must be an Answer or a question string"):
        make_pipeline(corpus_dir).ask("Who did he meet?", history=[{"question": "Who is Duque?"}])
