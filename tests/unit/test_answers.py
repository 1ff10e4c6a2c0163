"""One answer across articles: the same words found in several articles are one answer with its sources;
where another article answers differently and nearly as surely, the answer says so."""

from __future__ import annotations

from qa.reading.answers import other_accounts
from qa.records import Answer, Source
from qa.serving.web import format_answer


def _answer(text: str, score: float, article: str, site: str) -> Answer:
    return Answer(question="q", text=text, score=score, article=article, title=f"{site} story", site=site,
                  start=0, end=len(text), context=text, context_start=0,
                  sources=[Source(article, f"{site} story", 0, len(text), site)])


def test_another_outlet_telling_it_differently_is_shown_and_a_weak_guess_is_not():
    best = _answer("more than 15 nations", 0.9, "cnn", "CNN")
    told = _answer("over a dozen", 0.8, "medium", "Medium")
    weak = _answer("Qatar", 0.3, "gazette", "Gazette")
    same_article = _answer("15 nations", 0.85, "cnn", "CNN")
    assert other_accounts(best, [told, weak, same_article]) == [told]
    best.other_accounts = [told]
    card = format_answer(best)
    assert "Told differently: <i>Medium</i>: over a dozen" in card


def test_an_answer_found_in_two_outlets_names_both_on_the_card():
    best = _answer("$10 billion", 0.9, "cnn", "CNN")
    best.sources.append(Source("medium", "Medium story", 10, 21, "Medium", "2022-03-16"))
    assert "Also in: <i>Medium story</i> · Medium · 2022-03-16" in format_answer(best)
