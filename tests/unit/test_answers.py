"""One answer across articles: the same words found in several articles are one answer with its sources;
where another article answers differently and nearly as surely, the answer says so."""

from __future__ import annotations

from qa.reading.answers import discounted, other_accounts
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


def test_a_discount_moves_the_answer_and_its_alternatives_on_the_logit_scale():
    best = _answer("Tunis", 0.8, "cnn", "CNN")
    best.alternatives = [_answer("Sfax", 0.5, "cnn", "CNN"), _answer("Sousse", 0.0, "cnn", "CNN")]
    discounted(best, -2.0)
    assert abs(best.score - 1 / (1 + 4.0 ** -1 * 2.718281828459045 ** 2)) < 1e-9  # odds 4 -> 4 / e^2
    assert abs(best.alternatives[0].score - 1 / (1 + 2.718281828459045 ** 2)) < 1e-9
    assert best.alternatives[1].score == 0.0  # a certain score stays as it is
