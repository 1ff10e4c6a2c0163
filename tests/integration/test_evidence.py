"""The evidence check: an answer about a name or number its article never mentions is withdrawn."""

from __future__ import annotations

from pathlib import Path

from qa.reading.evidence import key_terms, missing_terms


def test_key_terms_are_the_questions_names_and_numbers():
    assert key_terms("When did Duque meet Biden in 2021?") == ["duque", "biden", "2021"]
    assert key_terms("What do major non-NATO allies receive?") == []
    assert key_terms("What did the U.S. give Colombia's army?") == ["colombia"], "abbreviations are left out"
    assert key_terms("Who wrote it?") == []
    assert key_terms("I read about the ferry. Tell me who runs it for Valmora?") == ["valmora"], "sentence starts"
    assert key_terms("Why Is Colombia Getting This Status?") == [], "Title Case tells nothing"
    assert key_terms("When did Duque meet Putin?") == ["duque", "putin"], "a short question, mostly names"


def test_names_are_matched_loosely_and_unknown_ones_are_missing():
    text = "Iván Duque, Colombia's president, met Joe Biden on 10 March 2,021. The Beroids and Gandhi."
    assert missing_terms("What did Gandhi write?", text) == []
    assert missing_terms("When did Duque meet Biden?", text) == []
    assert missing_terms("What did the Colombian leader say in 2021?", text) == [], "endings and separators"
    assert missing_terms("What do Beriods eat? What did Gandi write?", text) == [], "one letter off"
    assert missing_terms("What did Ghandi write?", text) == ["ghandi"], "two letters off"
    assert missing_terms("When did Duque meet Putin in 1999?", text) == ["putin", "1999"]
    assert missing_terms("When did Ivan Duque meet Biden?", text) == [], "accents"
    assert missing_terms("Where did Iván O'Brien go?", "Ivan O\u2019Brien went home.") == [], "apostrophes"
    assert missing_terms("How many books, 12000?", "It holds 12 000 books.") == []
    assert missing_terms("Who sang at Superbowl 50? What is UserDatagram?",
                         "Super Bowl 50 ... the User Datagram Protocol") == [], "one word or two"
    assert missing_terms("Who won in Kent?", "Ken took the train.") == ["kent"], "short names are not glued"


def test_a_number_may_be_written_in_words_as_news_style_writes_small_ones():
    text = "After fourteen days the three hostages were freed, in the tenth week; twenty-one stayed. Two million doses."
    assert missing_terms("What happened after 14 days to the 3 hostages?", text) == []
    assert missing_terms("What happened in the 10th week? Who stayed, 21?", text) == []
    assert missing_terms("How many doses, 2,000,000?", text) == []
    assert missing_terms("What happened after 15 days, in week 11?", text) == ["15", "11"], "another number is missing"
    assert missing_terms("How many doses, 3,000,000?", text) == ["3000000"]
    assert missing_terms("What happened 02 days later?", text) == ["02"], "a number written with a leading 0 is no word"


def test_a_question_about_someone_the_articles_never_mention_gets_no_answer(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    assert pipe.ask("When did Duque meet Biden?").text == "Thursday"
    assert pipe.ask("When did Duque meet Putin?").text is None
    assert make_pipeline(corpus_dir, evidence_check="off").ask("When did Duque meet Putin?").text == "Thursday"
