"""Metadata in an article's own words: bylines, date lines, datelines and credits are recognised where
they stand, and a date or a name inside the story is not taken for them; the text is never changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import read_articles
from qa.ingest.bylines import find_day, text_metadata

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


@pytest.mark.parametrize("text, expected", [
    ("Ferry strike ends\nBy Jane Doe and John Roe, CNN\nUpdated 5:31 PM ET, Thu March 10, 2022\n\n"
     "WASHINGTON (Reuters) - The strike ended on Monday.",
     {"author": "Jane Doe, John Roe", "site": "CNN", "updated": "2022-03-10", "dateline": "Washington"}),
    ("Ferry strike ends\nShahida Muhammad / 2 min read Mar 16, 2022\n\nThe strike ended.",
     {"author": "Shahida Muhammad", "date": "2022-03-16"}),
    ("Ferry strike ends\nPublished 2022-03-16\nBY JANE DOE\n\nNEW YORK (AP) — The strike ended.",
     {"author": "Jane Doe", "date": "2022-03-16", "dateline": "New York", "site": "AP"}),
    ("Ferry strike ends\n\nLONDON, March 10 (Reuters) - The strike ended.\n\n"
     "(Reporting by Kate Holton; Editing by Mark Potter)",
     {"author": "Kate Holton", "dateline": "London", "site": "Reuters"}),
    ("Ferry strike ends\n16 March 2022\n\nThe strike ended.", {"date": "2022-03-16"}),
    ("Ferry strike ends\n(CNN) -- The strike ended.", {"site": "CNN"}),
    ("Ferry strike ends\n(CNN)The strike ended.\n\nCNN's Susan Candiotti contributed to this report.",
     {"site": "CNN", "author": "Susan Candiotti"}),
    ("Ferry strike ends\nHong Kong, China (CNN) -- The strike ended.", {"site": "CNN", "dateline": "Hong Kong"}),
])
def test_bylines_date_lines_datelines_and_credits_are_read(text, expected):
    assert text_metadata(text) == expected


@pytest.mark.parametrize("text", [
    "Ferry strike ends\nThe strike that began on March 10, 2022 ended after the union and the port "
    "authority agreed on pay, the mayor said.",  # a date inside a sentence is the story's, not its date
    "Ferry Strike Ends After Talks\nMeanwhile - the boats stayed in port.\nAnzeige - Tickets here",
    "Biden Meets Duque\nPresident Joe Biden\nThe two presidents met.",  # a name line without a date line
    "Ferry strike ends\nThe boats left.\n\nBy Saturday afternoon the boats -- and the crews -- were back.",
    "",
])
def test_the_story_itself_is_not_taken_for_its_metadata(text):
    assert text_metadata(text) == {}


def test_days_are_read_in_the_forms_news_writes_them():
    assert [find_day(s) for s in ("Mar. 16, 2022", "March 3rd, 2021", "3 Sept 2020", "2019-12-01", "May 2022")] \
        == ["2022-03-16", "2021-03-03", "2020-09-03", "2019-12-01", None]


def test_the_seed_stories_carry_their_author_date_and_dateline_unchanged():
    cnn = CORPUS / "biden-designates-colombia-major-non-nato-ally.txt"
    medium = CORPUS / "us-gives-colombia-major-non-nato-ally-status.txt"
    [a] = read_articles(cnn)
    [b] = read_articles(medium)
    assert (a.author, a.site, a.dateline) == ("Devan Cole, Allie Malloy", "CNN", "Washington")
    assert (b.author, b.date) == ("Shahida Muhammad", "2022-03-16")
    assert a.text == cnn.read_text(encoding="utf-8") and b.text == medium.read_text(encoding="utf-8")


def test_fields_a_record_gives_win_over_what_its_text_says(tmp_path: Path):
    path = tmp_path / "story.json"
    path.write_text('{"title": "T", "author": "Ana Ribeiro", "text": "T\\nBy Tom Hale\\nMarch 1, 2022\\n\\nBody."}')
    [a] = read_articles(path)
    assert (a.author, a.date) == ("Ana Ribeiro", "2022-03-01")
