"""Following feeds: the list of feeds, their updates and their status, kept in `corpus/.feeds.json`
(hidden, so never indexed; beside the articles it brought, so it survives rebuilding the index).

An update fetches each feed (conditional GET), parses it with feedparser (RSS 0.9x, 1.0, 2.0, Atom),
and for each item not seen before fetches its page, reads it as any saved page is read (qa.ingest.pages:
main text and metadata), lets the feed's title, date, author and summary fill what the page lacks (or
stand in for the page when it cannot be had), and saves it as a JSON article under
`corpus/feeds/<host>/` through the corpus editor (so trash, restore, audit and rebuilds apply). The files
saved are then indexed together. A feed that fails says why in its status, and the others go on."""

from __future__ import annotations

import calendar
import fcntl
import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.errors import ArticleError, FeedError, FetchError, QAError
from qa.feeds.fetch import Fetcher, host_is_private, is_public
from qa.ingest.editor import Change, CorpusEditor
from qa.ingest.files import parse_file, slugify

STATE = ".feeds.json"
FEEDS_FOLDER = "feeds"  # corpus/feeds/<host>/<headline>-<id>.json
KEEP_ERRORS = 5  # item errors kept in a feed's status
# A feed that declares XML entities is refused before parsing: expanding them is how an entity bomb
# ("billion laughs") takes a parser's memory, and no real feed needs them.
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass
class FeedStatus:
    """One followed feed and how its last update went."""

    url: str
    title: str | None = None
    added: str = ""
    last_check: str | None = None
    new_items: int = 0  # at the last update
    items_total: int = 0  # saved from it in all
    last_error: str | None = None  # the feed's own failure at the last update, or None
    item_errors: list[str] = field(default_factory=list)  # the last few items that could not be had
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class UpdateReport:
    """What one update did: per feed, its status; the files saved; what indexing them reported."""

    feeds: list[FeedStatus] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # items of this update that could not be had whole
    index: Any = None

    def summary(self) -> str:
        lines = [f"{f.url}: {f.new_items} new" + (f"; {f.last_error}" if f.last_error else "") for f in self.feeds]
        lines += [f"  {p}" for p in self.problems]
        lines.append(f"{len(self.files)} article(s) saved into the corpus")
        if self.index is not None:
            lines.append(self.index.summary())
        return "\n".join(lines)


@dataclass(frozen=True)
class Item:
    """A feed item as the feed gives it."""

    key: str  # its id in the feed (guid / id), else its link
    link: str | None
    title: str | None
    date: str | None
    author: str | None
    summary: str | None
    site: str | None  # the feed's title


class Feeds:
    """The feeds followed for one corpus folder, and their updates."""

    def __init__(self, corpus_dir: Path, editor: CorpusEditor, fetcher: Fetcher, allow_private: bool = False,
                 items_per_update: int = 200, log: Callable[[str], None] = print) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.editor = editor
        self.fetcher = fetcher
        self.allow_private = allow_private
        self.items_per_update = items_per_update
        self.log = log

    @classmethod
    def from_settings(cls, settings: Settings, editor: CorpusEditor, log: Callable[[str], None] = print) -> Feeds:
        fetcher = Fetcher(settings.fetch_timeout, settings.fetch_max_bytes, settings.fetch_host_delay,
                          settings.fetch_private)
        return cls(settings.corpus_dir, editor, fetcher, settings.fetch_private, settings.feed_items_per_update, log)

    # --- the list --------------------------------------------------------------------------------------
    def add(self, location: str, who: str | None) -> FeedStatus:
        """Follow a feed: an http(s) URL, or the path of a feed file on this computer (`who`: the editor;
        only editors manage feeds). Nothing is fetched until the next update."""
        self.editor.editor_name(who)
        url = self._location(location)
        with self._state() as state:
            if url in state["feeds"]:
                raise FeedError(f"already following {url}")
            status = FeedStatus(url, added=_now())
            state["feeds"][url] = asdict(status)
            state["seen"].setdefault(url, [])
        return status

    def remove(self, location: str, who: str | None) -> FeedStatus:
        """Stop following a feed (the articles it brought stay; delete them as any article)."""
        self.editor.editor_name(who)
        url = self._location(location, must_exist=False)
        with self._state() as state:
            if url not in state["feeds"]:
                raise FeedError(f"not following {url}; `qa feed list` shows the feeds followed")
            status = FeedStatus(**state["feeds"].pop(url))
            state["seen"].pop(url, None)
        return status

    def list(self) -> list[FeedStatus]:
        """The feeds followed, with their status."""
        return [FeedStatus(**f) for f in self._read_state()["feeds"].values()]

    # --- updates ---------------------------------------------------------------------------------------
    def update(self) -> UpdateReport:
        """Fetch every feed and its new items' pages, save them into the corpus and index them."""
        report = UpdateReport()
        for status in self.list():
            seen = set(self._read_state()["seen"].get(status.url, []))
            files, keys, problems = self._update_feed(status, seen)
            if files:  # saved (and indexed) before they are recorded as seen: nothing is lost in between
                change = self.editor.add_fetched(files, "feeds")
                report.files += change.files
                report.index = change.index if change.index is not None else report.index
                problems += [f"not saved: {r}" for r in change.refused]
                status.new_items = len(change.files)
                status.items_total += len(change.files)
            report.problems += problems
            with self._state() as state:
                if status.url in state["feeds"]:  # not removed meanwhile
                    state["feeds"][status.url] = asdict(status)
                    state["seen"][status.url] = sorted(seen | keys)
            report.feeds.append(status)
        return report

    def add_url(self, url: str, who: str | None, allow_private: bool | None = None) -> Change:
        """Fetch one page into the corpus (`qa add URL`; `who`: the editor) and index it. `allow_private`:
        whether the URL may lead to a non-public address (the `fetch_private` setting when None)."""
        who = self.editor.editor_name(who)
        self.fetcher.check_url(url)
        item = Item(url, url, None, None, None, None, None)
        private_ok = self.allow_private if allow_private is None else allow_private
        name, data, _ = self._article_file(item, allow_private=private_ok, must_have_page=True)
        return self.editor.add_fetched([(name, data)], who)

    def _update_feed(self, status: FeedStatus, seen: set[str]
                     ) -> tuple[list[tuple[str, bytes]], set[str], list[str]]:
        """(files to save, item keys now seen, problems) of one feed; its status updated in place."""
        status.last_check, status.new_items, status.last_error = _now(), 0, None
        try:
            items, title, private_ok = self._items(status)
        except (FetchError, FeedError) as exc:
            status.last_error = str(exc)
            self.log(f"feed {status.url}: {exc}")
            return [], set(), []
        status.title = title or status.title
        files, keys, problems = [], set(), []
        for item in [i for i in items if i.key not in seen][: self.items_per_update]:
            try:
                name, data, problem = self._article_file(item, private_ok)
            except (QAError, ValueError) as exc:
                problem, name = _about(item, exc), None
            keys.add(item.key)  # an item that cannot be had is reported once, not fetched at every update
            if problem:
                problems.append(problem)
                self.log(f"feed {status.url}: {problem}")
            if name is not None:
                files.append((name, data))
        status.item_errors = (status.item_errors + problems)[-KEEP_ERRORS:]
        status.new_items = len(files)
        return files, keys, problems

    def _items(self, status: FeedStatus) -> tuple[list[Item], str | None, bool]:
        """The feed's items, oldest first (an unchanged feed: none), its title, and whether its links may
        lead to non-public addresses: only when the feed itself was fetched from one (a feed on this
        computer or the local network), or the setting allows them; a public feed, or a feed file, may not."""
        import feedparser

        content_type, private_ok = "", self.allow_private
        if status.url.startswith("file:"):
            body = _read_local(Path(urllib.parse.unquote(urllib.parse.urlsplit(status.url).path)),
                               self.fetcher.max_bytes)
        else:
            # A feed whose host is on the local network may be fetched there; a public one, and its
            # redirects, may not lead there.
            local = self.allow_private or host_is_private(status.url)
            response = self.fetcher.get(status.url, status.etag, status.last_modified, allow_private=local)
            private_ok = self.allow_private or (local and not is_public(response.address))
            if response.status == 304:
                return [], None, private_ok
            status.etag, status.last_modified = response.etag, response.last_modified
            body, content_type = response.body, response.content_type
        if _ENTITY.search(body[:65536]):
            raise FeedError("refused: the feed declares XML entities (an entity bomb risk)")
        parsed = feedparser.parse(body, sanitize_html=True, resolve_relative_uris=True,
                                  response_headers={"content-location": status.url,
                                                    "content-type": content_type or "application/xml"})
        if not parsed.entries:
            head = body[:2048].lstrip().lower()
            if parsed.bozo and head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf")):
                raise FeedError(f"malformed XML ({parsed.get('bozo_exception')})")
            if not parsed.feed.get("title") or head.startswith((b"<!doctype html", b"<html")):
                raise FeedError("not an RSS or Atom feed (no channel or items found)")
        site = _clean(parsed.feed.get("title"))
        items = [_item(e, site) for e in parsed.entries]
        items = [i for i in items if i is not None]
        return sorted(items, key=lambda i: i.date or ""), site, private_ok

    def _article_file(self, item: Item, allow_private: bool, must_have_page: bool = False
                      ) -> tuple[str, bytes, str | None]:
        """(file name, JSON record, a problem worth reporting or None) of one item: its page read with the
        feed's metadata filling what the page lacks; the feed's summary standing in for a page that cannot
        be had (ArticleError/FetchError when there is neither)."""
        record: dict[str, Any] = {}
        problem = None
        try:
            if not item.link:
                raise FetchError("the item has no link")
            record = self._page(item.link, allow_private)
        except (FetchError, ArticleError) as exc:
            if must_have_page or not item.summary:
                raise
            problem = f"{_about(item, exc)}; the feed's summary was kept instead"
            record = {"text": item.summary}
        for key, value in (("title", item.title), ("date", item.date), ("author", item.author),
                           ("site", item.site), ("url", item.link)):
            if value and not record.get(key):
                record[key] = value
        record.update(summary=item.summary, fetched=_now())
        record = {k: v for k, v in record.items() if v}
        host = slugify(urllib.parse.urlsplit(record.get("url") or item.link or "").hostname or "local")
        tag = hashlib.sha1(item.key.encode()).hexdigest()[:8]
        name = f"{FEEDS_FOLDER}/{host}/{slugify(record.get('title') or 'item', 60)}-{tag}.json"
        return name, json.dumps(record, ensure_ascii=False, indent=1).encode(), problem

    def _page(self, url: str, allow_private: bool) -> dict[str, Any]:
        response = self.fetcher.get(url, allow_private=allow_private)
        kind = response.content_type.split(";")[0].strip().lower()
        if kind and kind not in ("text/html", "application/xhtml+xml"):
            raise FetchError(f"{response.url}: not a web page ({kind})")
        [article] = parse_file(Path("page.html"), response.body)
        if article.notice:  # no main text: a whole page of menus is not an article
            raise ArticleError(f"{response.url}: {article.notice}")
        return {"title": article.title, "text": article.text, **article.meta(),
                "url": article.url or response.url}

    # --- state -----------------------------------------------------------------------------------------
    def _location(self, location: str, must_exist: bool = True) -> str:
        location = (location or "").strip()
        parts = urllib.parse.urlsplit(location)
        if parts.scheme in ("http", "https"):
            if not parts.hostname:
                raise FeedError(f"no host in {location!r}")
            return location
        if parts.scheme and len(parts.scheme) > 1 and parts.scheme != "file":
            raise FeedError(f"refused {location!r}: a feed is an http(s) URL or a feed file on this computer")
        path = Path(urllib.parse.unquote(parts.path) if parts.scheme == "file" else location).expanduser().resolve()
        if must_exist and not path.is_file():
            raise FeedError(f"no feed file {path}")
        return path.as_uri()

    def _read_state(self) -> dict[str, Any]:
        path = self.corpus_dir / STATE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            state = {}
        except (OSError, ValueError) as exc:
            raise FeedError(f"cannot read the feed list {path}: {exc}") from None
        return {"feeds": state.get("feeds", {}), "seen": state.get("seen", {})}

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """The state to change, under a file lock; written atomically on success."""
        self.corpus_dir.mkdir(parents=True, exist_ok=True)
        with open(self.corpus_dir / ".feeds.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read_state()
            yield state
            tmp = self.corpus_dir / f"{STATE}.tmp"
            tmp.write_text(json.dumps(state, indent=1, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.corpus_dir / STATE)


def _item(entry: Any, site: str | None) -> Item | None:
    link = entry.get("link") or None
    key = entry.get("id") or link or entry.get("title")
    if not key:
        return None
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    date = datetime.fromtimestamp(calendar.timegm(stamp), timezone.utc).date().isoformat() if stamp else None
    # The author line as the feed writes it first (feedparser 6 splits "mail (Name)" wrongly in `authors`).
    authors = [_person(entry.get("author"))] if entry.get("author") else [
        _person(a.get("name")) for a in entry.get("authors", [])]
    summary = _text_of(entry.get("summary") or "")
    return Item(str(key), link, _clean(entry.get("title")), date, _clean(", ".join(a for a in authors if a)),
                summary or None, site)


def _person(name: str | None) -> str | None:
    """A feed's author without the e-mail address RSS puts first ("desk@paper.example (Ana Ribeiro)")."""
    if not name:
        return None
    m = re.fullmatch(r"\s*\S+@\S+\s*\((.+)\)\s*", name)
    return m.group(1) if m else (None if "@" in name and " " not in name.strip() else name)


def _about(item: Item, exc: Exception) -> str:
    """A problem with an item, naming its link once."""
    text = str(exc)
    return text if item.link and item.link in text else f"{item.link or item.key}: {text}"


def _text_of(html: str) -> str:
    """The plain text of a feed's (sanitised) HTML summary."""
    import lxml.html

    if not html.strip():
        return ""
    try:
        text = lxml.html.fromstring(html).text_content()
    except (ValueError, lxml.etree.ParserError):
        text = re.sub(r"<[^>]+>", " ", html)
    return " ".join(text.split())


def _read_local(path: Path, max_bytes: int) -> bytes:
    try:
        if path.stat().st_size > max_bytes:
            raise FeedError(f"feed file {path} is larger than {max_bytes:,} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot read feed file {path}: {exc.strerror or exc}") from None


def _clean(value: Any) -> str | None:
    text = " ".join(str(value or "").split())
    return text or None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

