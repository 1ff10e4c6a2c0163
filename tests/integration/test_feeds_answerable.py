"""Feeds with the real models: a story from a feed on a local HTTP server becomes answerable with its date
(through `qa feed add` + `qa feed update`, and through the served chat's poller); `qa add URL` works."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_feeds import ATOM, FERRY, PAGE, Site, rss  # noqa: E402

from qa.feeds.fetch import Fetcher  # noqa: E402
from qa.feeds.follow import Feeds  # noqa: E402
from qa.feeds.poller import FeedPoller  # noqa: E402
from qa.ingest.editor import CorpusEditor  # noqa: E402
from qa.serving.cli import main  # noqa: E402


def test_a_followed_feed_s_story_is_answerable_with_its_date(corpus_dir: Path, tmp_path: Path, make_pipeline,
                                                              capsys):
    site = Site()
    try:
        site.serve("/feed.xml", rss([("a1", "/valmora.html", "Engineer elected mayor of Valmora")]),
                   "application/rss+xml")
        site.serve("/valmora.html", PAGE.encode())
        where = ["--corpus", str(corpus_dir), "--index", str(tmp_path / "index")]
        assert main(["feed", "add", site.base + "/feed.xml", *where]) == 0
        assert main(["feed", "update", *where]) == 0
        out = capsys.readouterr().out
        assert "/feed.xml: 1 new" in out and "1 article(s) saved into the corpus" in out
        answer = make_pipeline(corpus_dir).ask("Who was elected mayor of Valmora?")
        assert answer.text and "Mara Kalson" in answer.text
        assert answer.article.startswith("feeds/gazette-example/engineer-elected-mayor-of-valmora")
        row, _ = make_pipeline(corpus_dir).article(answer.article)
        assert (row.date, row.author, row.site) == ("2022-03-14", "Ana Ribeiro, Tom Hale", "The Harbour Gazette")

        site.serve("/ferry.html", FERRY.encode())
        assert main(["add", site.base + "/ferry.html", *where]) == 0  # one page by URL
        assert "saved feeds/gazette-example/ferry-to-osk-opens-" in capsys.readouterr().out
        assert make_pipeline(corpus_dir).ask("How many boats does the ferry to Osk have?").text == "two"
        assert main(["feed", "list", *where]) == 0
        assert "1 article(s) in all" in capsys.readouterr().out
    finally:
        site.close()


def test_the_served_chat_s_poller_follows_its_feeds(corpus_dir: Path, make_pipeline):
    site = Site()
    pipe = make_pipeline(corpus_dir)
    pipe.ensure_index()
    editor = CorpusEditor(corpus_dir, corpus_dir.parent / "index" / "audit.jsonl", 10_000_000,
                          on_change=lambda files: pipe.build_index(files=files))
    feeds = Feeds(corpus_dir, editor, Fetcher(timeout=2, host_delay=0), log=lambda m: None)
    poller = FeedPoller(feeds, minutes=0.01, log=lambda m: None, first_delay=0.1)
    try:
        site.serve("/atom.xml", ATOM, "application/atom+xml")
        site.serve("/ferry.html", FERRY.encode())
        feeds.add(site.base + "/atom.xml", "ana")
        poller.start()
        deadline = time.monotonic() + 120
        answer = None
        while time.monotonic() < deadline:  # bounded: the poller runs every 0.6 s
            answer = pipe.ask("How many boats does the ferry to Osk have?")
            if answer.text:
                break
            time.sleep(0.5)
        assert answer is not None and answer.text and "two" in answer.text
        assert feeds.list()[0].items_total == 1 and poller.running
    finally:
        poller.stop()
        site.close()
    assert not poller.running
