"""Answers that know they are news, with the real models, over the seed stories (the CNN one carrying its
metadata as JSON, the Medium one as the plain text it is): who wrote it, when it was published, which
outlet; relative dates resolved; filters by date, outlet and article; one answer across outlets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CNN_ARTICLE, SEED_ANSWER, SEED_QUESTION
from qa.errors import ArticleError, UsageError

MEDIUM = "us-gives-colombia-major-non-nato-ally-status"


@pytest.fixture
def news(corpus_dir: Path, make_pipeline):
    cnn = corpus_dir / f"{CNN_ARTICLE}.txt"
    text = cnn.read_text(encoding="utf-8")
    title, body = text.split("\n", 1)
    (corpus_dir / f"{CNN_ARTICLE}.json").write_text(json.dumps({
        "title": "Biden designates Colombia as a major non-NATO ally", "text": text, "site": "CNN",
        "date": "2022-03-10", "author": "Kevin Liptak", "url": "https://edition.cnn.com/2022/03/10/politics/"
        "colombia-major-non-nato-ally"}), encoding="utf-8")
    cnn.unlink()
    pipe = make_pipeline(corpus_dir)
    pipe.build_index()
    return pipe


def test_questions_about_the_articles_themselves(news):
    who = news.ask("Who wrote the story 'US gives Colombia major non-NATO ally status'?")
    assert (who.text, who.article, who.metadata) == ("Shahida Muhammad", MEDIUM, "author")
    assert who.context and "Shahida Muhammad" in who.context  # pointed at the byline in the text
    when = news.ask("When was the article about Colombia's major non-NATO ally status published?",
                    article=MEDIUM)
    assert (when.resolved_date, when.metadata, when.text) == ("2022-03-16", "date", "Mar 16, 2022")
    follow = news.ask("And who wrote it?", history=[when])
    assert (follow.text, follow.article) == ("Shahida Muhammad", MEDIUM)
    cnn_author = news.ask("Who wrote the CNN story?")
    assert (cnn_author.text, cnn_author.article) == ("Kevin Liptak", CNN_ARTICLE)
    outlet = news.ask("Which outlet published the story about Biden designating Colombia?")
    assert (outlet.text, outlet.metadata) == ("CNN", "site")
    from_washington = news.ask("Which news organisation reported from Washington?")  # the dateline's outlet
    assert (from_washington.text, from_washington.article) == ("CNN", CNN_ARTICLE)
    where = news.ask("Where was the CNN story reported from?")
    assert (where.text, where.metadata) == ("Washington", "dateline")
    content = news.ask("Who announced that the United States is designating Colombia a major non-NATO ally?")
    assert content.metadata is None and content.text and "Biden" in content.text  # read from the text


def test_a_relative_day_is_resolved_against_the_published_date(news):
    answer = news.ask("On which day did Biden announce the designation?")
    assert answer.text == "Thursday" and answer.article == CNN_ARTICLE
    assert (answer.date, answer.resolved_date, answer.site) == ("2022-03-10", "2022-03-10", "CNN")


def test_filters_by_outlet_date_and_article(news):
    assert news.ask(SEED_QUESTION, sources=["cnn"]).article == CNN_ARTICLE
    medium_only = news.ask(SEED_QUESTION, article=MEDIUM)
    assert medium_only.article in (MEDIUM, None) and all(h.passage.article_id == MEDIUM for h in medium_only.passages)
    later = news.ask(SEED_QUESTION, since="2022-03-11")  # Medium's date (03-16) is in its text; CNN's is 03-10
    assert {h.passage.article_id for h in later.passages} == {MEDIUM}
    earlier = news.ask(SEED_QUESTION, since="2022-03-01", until="2022-03-10")
    assert earlier.text == SEED_ANSWER and {h.passage.article_id for h in earlier.passages} == {CNN_ARTICLE}
    assert news.ask(SEED_QUESTION, until="2021-12-31").passages == []
    with pytest.raises(UsageError, match="not a day"):
        news.ask(SEED_QUESTION, since="last week")
    with pytest.raises(ArticleError, match="no article 'nope'"):
        news.ask(SEED_QUESTION, article="nope")


def test_the_same_answer_in_two_outlets_is_one_answer_naming_both(news):
    answer = news.ask("How much aid has the US government provided to Colombia since 2000?")
    assert answer.text and "$10 billion" in answer.text
    assert {s.article for s in answer.sources} == {CNN_ARTICLE, MEDIUM}
    assert all("$10 billion" not in (a.text or "") for a in answer.alternatives)


def test_a_conversation_about_one_article_stays_on_it_until_left(news):
    from qa.conversation.session import Conversation

    talk = Conversation()
    talk.about(MEDIUM)
    first = talk.ask(news, SEED_QUESTION)
    assert all(h.passage.article_id == MEDIUM for h in first.passages)
    follow = talk.ask(news, "When was it published?")
    assert (follow.resolved_date, follow.article) == ("2022-03-16", MEDIUM)
    talk.new_topic()  # a new topic keeps the article chosen
    assert talk.article == MEDIUM
    talk.about(None)
    assert talk.ask(news, "Who wrote the CNN story?").article == CNN_ARTICLE
    talk.filter("2022-03-11", None, [" "])  # the chat's "Published from" box: kept for every question
    assert {h.passage.article_id for h in talk.ask(news, SEED_QUESTION).passages} == {MEDIUM}
    talk.filter(None, None, ["CNN"])
    assert {h.passage.article_id for h in talk.ask(news, SEED_QUESTION).passages} == {CNN_ARTICLE}


def test_a_question_for_the_latest_news_prefers_the_newest_story(corpus_dir: Path, make_pipeline):
    stories = (("2022-03-01", "The Osk ferry runs four boats a day, the harbour office said."),
               ("2022-03-10", "The Osk ferry runs six boats a day now, the harbour office said."),
               ("2022-03-20", "Since Sunday the harbour office has sent nine boats a day to the island."))
    for day, text in stories:  # the newest says it least like the question: retrieval alone ranks it last
        (corpus_dir / f"osk-{day}.json").write_text(json.dumps({
            "title": "Ferry to Osk", "date": day, "site": "Osk News", "text": text}), encoding="utf-8")
    pipe = make_pipeline(corpus_dir)
    latest = pipe.ask("What is the latest news on how many boats the Osk ferry runs?")
    assert (latest.text, latest.date) == ("nine", "2022-03-20")
