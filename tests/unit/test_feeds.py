"""Feeds followed against a real HTTP server on 127.0.0.1 (no model: the files saved are checked, not
indexed): new items' pages are fetched, read with their metadata and saved into the corpus; a second
update fetches only what is new; every kind of failure is one line in the status and the rest goes on;
links to non-public addresses are refused unless the feed itself lives on one."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from qa.errors import FeedError, FetchError, NotAllowed
from qa.feeds.fetch import USER_AGENT, Fetcher, is_public
from qa.feeds.follow import Feeds
from qa.ingest.editor import CorpusEditor

sys.path.insert(0, str(Path(__file__).parent))
from test_pages import PAGE, STORY  # noqa: E402

MB = 1_000_000


def rss(items: list[tuple[str, str, str]], title: str = "Harbour Gazette") -> bytes:
    """An RSS 2.0 feed of (guid, link path, title) items, dated a day apart from 14 March 2022."""
    body = "".join(f"<item><guid>{g}</guid><title>{t}</title><link>{{base}}{link}</link>"
                   f"<pubDate>{formatdate(1647244800 + 86400 * n, usegmt=True)}</pubDate>"
                   f"<author>desk@gazette.example (Ana Ribeiro)</author>"
                   f"<description>&lt;p&gt;Summary of {t}.&lt;/p&gt;</description></item>"
                   for n, (g, link, t) in enumerate(items))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>{{base}}/</link>{body}</channel></rss>").encode()


ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Osk Island News</title><id>urn:osk</id><updated>2022-03-16T09:00:00Z</updated>
<entry><id>urn:osk:1</id><title>Ferry to Osk opens</title><link href="{base}/ferry.html"/>
<published>2022-03-16T09:00:00Z</published><author><name>Tom Hale</name></author>
<summary>The free ferry to Osk opened on Wednesday.</summary></entry></feed>"""
BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><rss version="2.0"><channel><title>&lol3;</title></channel></rss>"""
FERRY = PAGE.replace("Engineer elected mayor of Valmora", "Ferry to Osk opens").replace(
    STORY[0], "The free ferry to the island of Osk opened on Wednesday with two boats and a crowd of 300 people "
              "on the quay, the harbour office said.")


class Site:
    """A real HTTP server on 127.0.0.1 serving `routes` (path -> (status, content type, body, headers));
    it records each request's path and headers."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes, dict[str, str]]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                site.requests.append((self.path, dict(self.headers)))
                if self.path == "/huge":  # 50 MB announced, and streamed until the client stops
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(50 * MB))
                    self.end_headers()
                    try:
                        for _ in range(50):
                            self.wfile.write(b"<p>" + b"x" * (MB - 7) + b"</p>\n")
                    except OSError:
                        pass
                    return
                status, kind, body, headers = site.routes.get(self.path, (404, "text/plain", b"not found", {}))
                if self.path == "/slow":
                    time.sleep(3)
                etag = headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(status)
                self.send_header("Content-Type", kind)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, kind: str = "text/html; charset=utf-8", status: int = 200,
              **headers: str) -> None:
        self.routes[path] = (status, kind, body.replace(b"{base}", self.base.encode()), headers)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


@pytest.fixture
def feeds(tmp_path: Path) -> Feeds:
    corpus = tmp_path / "corpus"
    editor = CorpusEditor(corpus, tmp_path / "index" / "audit.jsonl", 10 * MB)
    return Feeds(corpus, editor, Fetcher(timeout=1.0, max_bytes=2 * MB, host_delay=0.0), log=lambda m: None)


def saved(feeds: Feeds) -> dict[str, dict]:
    folder = feeds.corpus_dir / "feeds"
    return {p.relative_to(folder).as_posix(): json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))}


def test_a_feed_s_new_items_are_fetched_read_and_saved_and_only_new_ones_next_time(site: Site, feeds: Feeds):
    site.serve("/feed.xml", rss([("a1", "/valmora.html", "Engineer elected mayor of Valmora")]),
               "application/rss+xml", ETag='"v1"')
    site.serve("/valmora.html", PAGE.encode())
    feeds.add(site.base + "/feed.xml", "ana")
    first = feeds.update()
    assert [f.new_items for f in first.feeds] == [1] and first.problems == []
    [(name, record)] = saved(feeds).items()
    assert name.startswith("gazette-example/engineer-elected-mayor-of-valmora-")  # the outlet's host
    assert STORY[0] in record["text"] and "cookies" not in record["text"]
    assert (record["author"], record["date"], record["site"]) == ("Ana Ribeiro, Tom Hale", "2022-03-14",
                                                                  "The Harbour Gazette")  # the page's own
    assert record["url"] == "https://gazette.example/2022/03/14/valmora-mayor"
    assert all(h.get("User-Agent") == USER_AGENT for _, h in site.requests)

    second = feeds.update()  # unchanged feed: a conditional GET answered 304, no page fetched
    assert [f.new_items for f in second.feeds] == [0] and site.requests[-1][0] == "/feed.xml"
    assert site.requests[-1][1].get("If-None-Match") == '"v1"'

    site.serve("/feed.xml", rss([("a1", "/valmora.html", "Engineer elected mayor of Valmora"),
                                 ("a2", "/gone.html", "Bridge plan delayed"),
                                 ("a3", "/ferry.html", "Ferry to Osk opens")]), "application/rss+xml", ETag='"v2"')
    site.serve("/ferry.html", FERRY.encode())
    before = len(site.requests)
    third = feeds.update()
    fetched = [path for path, _ in site.requests[before:]]
    assert sorted(fetched) == ["/feed.xml", "/ferry.html", "/gone.html"]  # the seen item is not fetched again
    assert third.feeds[0].new_items == 2  # the gone page's summary stands in for it, and says so
    assert any("/gone.html: " in p and "HTTP 404" in p and "summary was kept" in p for p in third.problems)
    records = saved(feeds)
    gone = next(r for r in records.values() if r["title"] == "Bridge plan delayed")
    assert (gone["text"], gone["date"], gone["author"]) == ("Summary of Bridge plan delayed.", "2022-03-15",
                                                            "Ana Ribeiro")
    [status] = feeds.list()
    assert (status.title, status.items_total, status.last_error) == ("Harbour Gazette", 3, None)


def test_an_atom_feed_and_one_page_by_url(site: Site, feeds: Feeds):
    site.serve("/atom.xml", ATOM, "application/atom+xml")
    site.serve("/ferry.html", FERRY.encode())
    feeds.add(site.base + "/atom.xml", "ana")
    report = feeds.update()
    [record] = saved(feeds).values()
    assert report.feeds[0].title == "Osk Island News" and "ferry to the island of Osk opened" in record["text"]
    site.serve("/valmora.html", PAGE.encode())
    with pytest.raises(FetchError, match="non-public address"):  # as the setting says, by default
        feeds.add_url(site.base + "/valmora.html", "ana@cli")
    change = feeds.add_url(site.base + "/valmora.html", "ana@cli", allow_private=True)  # as `qa add URL` does
    assert change.files[0].startswith("feeds/gazette-example/engineer-elected") and len(saved(feeds)) == 2
    audit = [json.loads(line) for line in feeds.editor.audit_log.read_text().splitlines()]
    assert [(a["action"], a["editor"]) for a in audit] == [("add", "feeds"), ("add", "ana@cli")]


@pytest.mark.parametrize("path, body, kind, status, expected", [
    ("/missing.xml", None, "", 0, "HTTP 404"),
    ("/error.xml", b"oops", "text/plain", 500, "HTTP 500"),
    ("/slow", b"late", "application/rss+xml", 200, "no answer within 1 s"),
    ("/bad.xml", b"<rss><channel><title>Half", "application/rss+xml", 200, "malformed XML"),
    ("/bomb.xml", BOMB, "application/rss+xml", 200, "declares XML entities"),
    ("/huge", None, "", 0, "too large (50,000,000 bytes"),
    ("/page.html", b"<html><body><p>Not a feed at all.</p></body></html>", "text/html", 200, "not an RSS or Atom feed"),
    ("/loop", b"", "text/html", 302, "redirect loop"),
])
def test_each_failure_is_one_line_in_the_status_and_the_other_feeds_go_on(site: Site, feeds: Feeds, path, body,
                                                                         kind, status, expected):
    if body is not None:
        site.serve(path, body, kind, status, **({"Location": "/loop"} if path == "/loop" else {}))
    site.serve("/atom.xml", ATOM, "application/atom+xml")
    site.serve("/ferry.html", FERRY.encode())
    feeds.add(site.base + path, "ana")
    feeds.add(site.base + "/atom.xml", "ana")
    report = feeds.update()
    bad, good = report.feeds
    assert expected in bad.last_error and "\n" not in bad.last_error
    assert (bad.new_items, good.new_items, good.last_error) == (0, 1, None)
    assert [f.last_error is None for f in feeds.list()] == [False, True]
    assert feeds.update().feeds[1].new_items == 0  # the next update goes on as before


def test_item_pages_that_are_too_big_not_html_or_redirect_forever_are_reported_and_skipped(site: Site, feeds: Feeds):
    feeds.fetcher.max_bytes = 2 * MB
    site.serve("/feed.xml", rss([("h", "/huge", "Huge"), ("p", "/report.pdf", "Report"), ("l", "/loop", "Loop"),
                                 ("f", "/ferry.html", "Ferry to Osk opens")]).replace(b"<description>", b"<x>")
               .replace(b"</description>", b"</x>"), "application/rss+xml")  # no summaries to stand in
    site.serve("/feed.xml", site.routes["/feed.xml"][2].replace(b"</channel>", b"<item><guid>bad</guid><title>Bad"
               b"</title><link>http://example.invalid:99999/x</link></item></channel>"), "application/rss+xml")
    site.serve("/report.pdf", b"%PDF-1.4 ...", "application/pdf")
    site.serve("/loop", b"", "text/html", 302, Location="/loop")
    site.serve("/ferry.html", FERRY.encode())
    feeds.add(site.base + "/feed.xml", "ana")
    report = feeds.update()
    assert report.feeds[0].new_items == 1 and len(saved(feeds)) == 1
    problems = " | ".join(report.problems)
    assert "too large" in problems and "not a web page (application/pdf)" in problems and "redirect loop" in problems
    assert "not a valid URL" in problems
    again = feeds.update()  # reported once: not fetched at every update
    assert again.feeds[0].new_items == 0 and again.problems == []


def test_a_public_feed_cannot_make_the_server_read_local_or_private_addresses(site: Site, feeds: Feeds,
                                                                          tmp_path: Path):
    site.serve("/ferry.html", FERRY.encode())
    feed = tmp_path / "public.xml"  # a feed file: not on a private address, so its links may not lead there
    feed.write_bytes(rss([("1", "/ferry.html", "Ferry to Osk opens")]).replace(b"{base}", site.base.encode())
                     .replace(b"<description>", b"<x>").replace(b"</description>", b"</x>"))
    feeds.add(str(feed), "ana")
    report = feeds.update()
    assert report.feeds[0].new_items == 0 and site.requests == []  # refused before connecting
    assert "non-public address 127.0.0.1" in report.problems[0]
    with pytest.raises(FetchError, match="non-public address 169.254.169.254"):
        Fetcher().get("http://169.254.169.254/latest/meta-data/")  # the cloud metadata address
    for url in ("file:///etc/passwd", "ftp://example.com/feed", "gopher://x"):
        with pytest.raises(FetchError, match="only http and https"):
            Fetcher().get(url)
    with pytest.raises(FetchError, match="not a valid URL"):  # a bad port is one clear line, not a crash
        Fetcher().get("http://example.invalid:99999/")
    assert [is_public(a) for a in ("8.8.8.8", "127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1",
                                   "fc00::1", "::ffff:127.0.0.1", "224.0.0.1", "::7f00:1", "2002:7f00:1::",
                                   "64:ff9b::7f00:1", "fec0::1")] == [True] + [False] * 12


def test_the_feed_list_refuses_what_it_cannot_follow(feeds: Feeds, tmp_path: Path):
    for action in (lambda: feeds.add("https://news.example/rss", None), lambda: feeds.remove("https://x.example", ""),
                   lambda: feeds.add_url("https://news.example/story", None)):
        with pytest.raises(NotAllowed, match="Only editors"):  # only editors manage feeds
            action()
    with pytest.raises(FeedError, match="no feed file"):
        feeds.add(str(tmp_path / "nothing.xml"), "ana")
    with pytest.raises(FeedError, match="a feed is an http"):
        feeds.add("ftp://example.com/feed.xml", "ana")
    feeds.add("https://news.example/rss", "ana")
    with pytest.raises(FeedError, match="already following"):
        feeds.add("https://news.example/rss", "ana")
    assert feeds.remove("https://news.example/rss", "ana").url == "https://news.example/rss" and feeds.list() == []
    with pytest.raises(FeedError, match="not following"):
        feeds.remove("https://news.example/rss", "ana")


def test_requests_to_one_host_are_spaced_by_the_delay(site: Site):
    site.serve("/a", b"<html><body><p>a</p></body></html>")
    fetcher = Fetcher(host_delay=0.3, allow_private=True)
    t0 = time.monotonic()
    for _ in range(3):
        fetcher.get(site.base + "/a")
    assert time.monotonic() - t0 >= 0.6


def test_a_connection_goes_to_the_address_that_was_checked(monkeypatch, site: Site):
    """A name that resolves to a public address at the check must not be connected elsewhere: the
    connection is made to the checked address itself, not by resolving the name again."""
    calls = []
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        calls.append(host)
        return real("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    site.serve("/a", b"<html><body><p>a</p></body></html>")
    port = site.base.rsplit(":", 1)[1]
    Fetcher(allow_private=True, host_delay=0).get(f"http://news.invalid:{port}/a")
    assert calls[0] == "news.invalid" and set(calls[1:]) == {"127.0.0.1"}  # the name resolved once, for the check
    assert site.requests[-1][1]["Host"] == f"news.invalid:{port}"
