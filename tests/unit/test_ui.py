"""The chat's answer formatting: escaping, highlighting, the not-found message."""

from __future__ import annotations

from qa.records import Answer, Passage, RetrievedPassage
from qa.serving.web import NOT_FOUND, confidence_bar, esc, format_answer, highlighted_context


def _answer(**kw) -> Answer:
    base = dict(question="q", text="material and supply loans", score=0.82, article="cnn", title="Biden <b>news</b>",
                start=109, end=134, context="These allies are eligible to receive material and supply loans, today.",
                context_start=72, url="https://example.org/x", date="2022-03-10")
    base.update(kw)
    return Answer(**base)


def test_answer_is_bold_and_highlighted_in_its_sentence():
    out = format_answer(_answer())
    assert "<b>material and supply loans</b>" in out
    assert "receive <mark>material and supply loans</mark>, today." in out
    assert "Biden &lt;b&gt;news&lt;/b&gt;" in out  # the title is escaped
    assert "2022-03-10" in out and 'href="https://example.org/x"' in out
    assert "high (82%)" in out and confidence_bar(0.82) in out


def test_markup_in_articles_and_answers_is_escaped():
    evil = "<script>alert(1)</script>"
    ctx = f"Before {evil} after *stars* and [link](http://x)."
    ans = _answer(text=evil, context=ctx, context_start=0, start=7, end=7 + len(evil), url="javascript:alert(1)")
    out = format_answer(ans)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "javascript:" not in out
    assert "*stars*" not in out and "&#42;stars&#42;" in out
    assert highlighted_context(ans).startswith("Before <mark>&lt;script&gt;")


def test_not_found_shows_the_closest_passages():
    passage = Passage(1, "cnn", "Title", "Some <i>passage</i> text", 0, 24)
    out = format_answer(Answer(question="q", text=None, score=0.0,
                               passages=[RetrievedPassage(passage, 0.03)]))
    assert NOT_FOUND in out
    assert "Closest passages (1)" in out and "Some &lt;i&gt;passage&lt;/i&gt; text" in out
    assert "<b>" not in out


def test_esc_keeps_text_readable():
    assert esc("Iván's \"ally\" & co #1") == "Iván&#39;s &quot;ally&quot; &amp; co &#35;1"


def test_a_rewritten_follow_up_shows_how_it_was_understood():
    out = format_answer(_answer(question="And where is it held?",
                                resolved_question="where is the Summit of the Americas held?"))
    assert "Understood as: <i>where is the Summit of the Americas held?</i>" in out
    assert "Understood as" not in format_answer(_answer(question="q", resolved_question="q"))
    not_found = format_answer(Answer(question="Who is his <b>wife</b>?", text=None, score=0.0,
                                     resolved_question="Who is Duque's <b>wife</b>?"))
    assert "Understood as: <i>Who is Duque&#39;s &lt;b&gt;wife&lt;/b&gt;?</i>" in not_found and NOT_FOUND in not_found
