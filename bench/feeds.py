"""Feed updates against a real HTTP server on 127.0.0.1: 100 new items (their pages fetched, read and
saved), then indexing them, then a poll when nothing is new (the feed unchanged: 304), and a poll of a
changed feed with no new item (every item seen); plus what reading bylines and wire-copy signatures add
to indexing.

    python bench/feeds.py [--items 100]

Pages are real CNN stories (../shared/data/qa/news-conversations-dev.jsonl) in a news page's HTML. The
per-host delay is 0 here (one local host); at the default 1 s, 100 items from one host take 100 s by
design."""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.feeds.fetch import Fetcher  # noqa: E402
from qa.feeds.follow import Feeds  # noqa: E402
from qa.ingest.bylines import text_metadata  # noqa: E402
from qa.ingest.copies import signature  # noqa: E402
from qa.ingest.editor import CorpusEditor  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "qa" / "news-conversations-dev.jsonl"


def page(title: str, story: str, n: int) -> bytes:
    body = "".join(f"<p>{html.escape(p.strip())}</p>" for p in story.split("\n\n") if p.strip())
    return (f"<!DOCTYPE html><html><head><title>{html.escape(title)} | CNN</title>"
            f'<meta property="og:site_name" content="CNN"><meta name="author" content="Reporter {n}">'
            f'<meta property="article:published_time" content="2013-05-{1 + n % 28:02d}T10:00:00Z"></head><body>'
            f"<nav><a href='/'>Home</a><a href='/world'>World</a></nav><article><h1>{html.escape(title)}</h1>"
            f"{body}</article><footer>© CNN</footer></body></html>").encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100)
    args = ap.parse_args()
    stories = list({r["story_id"]: r["story"] for r in map(json.loads, open(DATA))}.values())
    routes: dict[str, bytes] = {}
    for n in range(args.items):
        story = stories[n % len(stories)] + f"\n\nThis is copy {n} of the benchmark's stories."
        routes[f"/story-{n}.html"] = page(story.split(".")[0][:80], story, n)
    items = "".join(f"<item><guid>s{n}</guid><title>Story {n}</title><link>{{base}}/story-{n}.html</link>"
                    f"<pubDate>{formatdate(1367400000 + 3600 * n, usegmt=True)}</pubDate></item>"
                    for n in range(args.items))
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>CNN</title>{items}</channel></rss>'
    etag = {"value": '"1"'}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/feed.xml":
                if self.headers.get("If-None-Match") == etag["value"]:
                    self.send_response(304)
                    self.end_headers()
                    return
                body, kind = feed.replace("{base}", base).encode(), "application/rss+xml"
            else:
                body, kind = routes.get(self.path, b""), "text/html; charset=utf-8"
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", kind)
            self.send_header("ETag", etag["value"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        settings = Settings.load(corpus_dir=corpus, index_dir=Path(tmp) / "index")
        editor = CorpusEditor.from_settings(settings)
        feeds = Feeds(corpus, editor, Fetcher(host_delay=0.0), log=lambda m: None)
        feeds.add(base + "/feed.xml", "bench")
        t0 = time.perf_counter()
        report = feeds.update()
        fetch_s = time.perf_counter() - t0
        print(f"| what | seconds |\n|---|---|\n| update, {report.feeds[0].new_items} new items: fetch, read, save "
              f"| {fetch_s:.2f} ({fetch_s / max(1, report.feeds[0].new_items) * 1000:.0f} ms an item) |")
        from qa.pipeline import Pipeline

        pipe = Pipeline(settings, log=lambda m: None)
        t0 = time.perf_counter()
        built = pipe.build_index()
        print(f"| indexing them ({built.articles_total} articles, {built.passages_total} passages) "
              f"| {time.perf_counter() - t0:.2f} |")
        for label in ("poll, feed unchanged (304)", "poll, feed changed, no new item"):
            if "changed" in label:
                etag["value"] = '"2"'
            t0 = time.perf_counter()
            again = feeds.update()
            assert again.feeds[0].new_items == 0 and not again.files
            print(f"| {label} | {time.perf_counter() - t0:.3f} |")
        texts = [pipe.article(a.id)[1] for a in pipe.retriever().snapshot.articles()]
    server.shutdown()
    for label, fn in (("bylines, date lines, datelines (per article)", text_metadata),
                      ("wire-copy signature (per article)", signature)):
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        print(f"| {label} | {(time.perf_counter() - t0) / len(texts) * 1000:.2f} ms |")


if __name__ == "__main__":
    main()
