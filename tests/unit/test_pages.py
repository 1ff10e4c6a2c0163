"""Saved web pages read for their main text and metadata; JSON records' metadata under its common names;
the extraction benchmark's metric."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from qa import read_articles
from qa.errors import ArticleError
from qa.ingest.files import json_metadata
from qa.ingest.pages import read_page

ROOT = Path(__file__).resolve().parents[2]

STORY = ["Voters in Valmora elected the engineer Mara Kalson as mayor on Sunday, ending twelve years of "
         "rule by the Harbour Party in the coastal city.",
         "Kalson, 41, promised three new bridges and a free ferry to the island of Osk, and said the city "
         "budget would be published every month.",
         "Turnout was 64 percent, the highest since 1998, the election office said on Monday morning."]
PAGE = f"""<!DOCTYPE html><html lang="en"><head>
<title>Engineer elected mayor of Valmora | The Harbour Gazette</title>
<link rel="canonical" href="https://gazette.example/2022/03/14/valmora-mayor">
<meta property="og:site_name" content="The Harbour Gazette">
<script type="application/ld+json">{json.dumps({
    "@context": "https://schema.org", "@type": "NewsArticle", "headline": "Engineer elected mayor of Valmora",
    "datePublished": "2022-03-14T08:00:00Z", "dateModified": "2022-03-15T10:00:00Z",
    "author": [{"@type": "Person", "name": "Ana Ribeiro"}, {"@type": "Person", "name": "Tom Hale"}],
    "publisher": {"@type": "Organization", "name": "The Harbour Gazette"}})}</script>
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies</div>
<nav><ul><li><a href="/">Home</a></li><li><a href="/politics">Politics</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<header><h1>Engineer elected mayor of Valmora</h1></header>
<main><article>
<h1>Engineer elected mayor of Valmora</h1>
<p class="byline">By Ana Ribeiro and Tom Hale</p>
{"".join(f"<p>{p}</p>" for p in STORY)}
<div class="share">Share on Facebook Share on Twitter</div>
</article>
<aside class="most-read"><h2>Most read</h2><ul><li><a href="/a">Storm closes the port for a week</a></li>
<li><a href="/b">Ferry fares to rise in April</a></li></ul></aside></main>
<footer>Subscribe to our newsletter. © 2022 The Harbour Gazette. All rights reserved.</footer>
</body></html>"""


def test_a_news_page_gives_its_story_and_its_metadata_without_the_furniture():
    page = read_page(PAGE.encode("utf-8"))
    for paragraph in STORY:
        assert paragraph in page.text
    for furniture in ("cookies", "Most read", "Ferry fares to rise", "Subscribe", "Share on Facebook", "Politics"):
        assert furniture not in page.text
    assert "\n\n" in page.text and not page.whole_page
    assert page.title == "Engineer elected mayor of Valmora"
    assert page.author == "Ana Ribeiro, Tom Hale"
    assert (page.date, page.updated) == ("2022-03-14", "2022-03-15")
    assert page.site == "The Harbour Gazette"
    assert page.url == "https://gazette.example/2022/03/14/valmora-mayor"


def test_read_articles_shows_what_a_file_becomes(tmp_path: Path):
    (tmp_path / "valmora.html").write_text(PAGE, encoding="utf-8")
    [article] = read_articles(tmp_path / "valmora.html")
    assert article.id == "valmora" and STORY[1] in article.text
    assert article.meta() == {"url": "https://gazette.example/2022/03/14/valmora-mayor", "date": "2022-03-14",
                              "author": "Ana Ribeiro, Tom Hale", "updated": "2022-03-15",
                              "site": "The Harbour Gazette"} | ({"language": article.language} if article.language else {})


def test_a_page_without_main_text_is_read_whole_and_says_so(tmp_path: Path, monkeypatch):
    import trafilatura

    (tmp_path / "menu.html").write_text("<html><head><title>Menu</title></head><body><ul><li>Soup</li>"
                                        "<li>Bread</li></ul></body></html>", encoding="utf-8")
    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *a, **k: None)  # it found no main text
    [article] = read_articles(tmp_path / "menu.html")
    assert article.notice == "no main text found: the whole page was read"
    assert (article.title, article.text) == ("Menu", "Soup\n\nBread")


def test_a_page_with_no_text_at_all_is_refused_with_the_reason(tmp_path: Path):
    (tmp_path / "empty.html").write_text("<html><body><img src='a.png'></body></html>", encoding="utf-8")
    with pytest.raises(ArticleError, match="no text in the article"):
        read_articles(tmp_path / "empty.html")


def test_json_metadata_is_read_under_its_common_names():
    assert json_metadata({"link": "https://x.example/a", "publishedAt": "2022-03-10", "byline": "By Devan Cole",
                          "source": {"id": "cnn", "name": "CNN"}, "lang": "en"}) == {
        "url": "https://x.example/a", "date": "2022-03-10", "author": "Devan Cole", "updated": None,
        "site": "CNN", "language": "en"}
    assert json_metadata({"authors": ["A. One", "B. Two"]})["author"] == "A. One, B. Two"
    assert set(json_metadata({}).values()) == {None}


def test_the_benchmark_metric_counts_shared_four_grams_per_page():
    sys.path.insert(0, str(ROOT / "bench"))
    from extraction import benchmark_f1, shingle_scores

    gold = "one two three four five six"  # 3 four-grams
    assert shingle_scores(gold, gold) == (1.0, 1.0)
    p, r = shingle_scores("one two three four five Menu Home", gold)  # 4 four-grams, 2 right
    assert (p, r) == (0.5, 2 / 3)
    precision, recall, f1 = benchmark_f1([(gold, gold), ("one two three four five Menu Home", gold)])
    assert (precision, recall) == (0.75, (1 + 2 / 3) / 2) and abs(f1 - 2 * 0.75 * recall / (0.75 + recall)) < 1e-12
