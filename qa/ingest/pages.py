"""Saved web pages: the article's main text and its metadata, read with trafilatura (the field's standard
extractor: it drops menus, teasers, comments, cookie and share prompts, and reads JSON-LD, OpenGraph and
meta tags for the headline, author, date, outlet, canonical URL and language; htmldate finds the dates).

A page where no main text is found is read whole (every visible paragraph, as qa read pages before) and
says so in `whole_page`, so the indexer can report it: never an empty article in silence."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from qa.ingest.files import extract_html, first_line

# The version of the page reader: an index built with another one reads its saved pages again.
PAGE_READER = "trafilatura-2"


@dataclass(frozen=True)
class Page:
    """What a web page holds: the article's text (paragraphs apart by blank lines) and its metadata."""

    title: str
    text: str
    author: str | None = None
    date: str | None = None  # published, ISO 8601 (a day)
    updated: str | None = None
    site: str | None = None
    url: str | None = None  # canonical
    language: str | None = None
    whole_page: bool = False  # no main text was found: the page's visible text was read instead


def read_page(html: bytes | str) -> Page:
    """The main text and metadata of one saved page (bytes: its charset is detected as a browser would)."""
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # its warnings are about the page, not qa
    # Comments left out: on the 332 development pages that scored best of the settings tried (snippet F1
    # 0.920; defaults 0.918, favor_precision 0.917, favor_recall 0.914; bench/extraction.py).
    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    text = _paragraphs(doc.text if doc is not None else "")
    meta = _metadata(doc, html)
    if text:
        return Page(title=meta.pop("title") or first_line(text), text=text, **meta)
    from trafilatura.utils import decode_file

    title, whole = extract_html(html if isinstance(html, str) else decode_file(html))
    return Page(title=meta.pop("title") or title, text=whole, whole_page=True, **meta)


def _metadata(doc, html: bytes | str) -> dict[str, str | None]:
    fields = {"title": None, "author": None, "date": None, "updated": None, "site": None, "url": None,
              "language": None}
    if doc is None:
        return fields
    fields.update(title=_clean(doc.title), author=_authors(doc.author), date=_day(doc.date),
                  site=_clean(doc.sitename), url=_clean(doc.url), language=_clean(doc.language))
    fields["updated"] = _updated(html, fields["date"])
    return fields


def _updated(html: bytes | str, published: str | None) -> str | None:
    """The last modification day the page declares (JSON-LD `dateModified`, or an `article:modified_time`
    or `og:updated_time` meta tag), when it is not the publication day."""
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return None
    found = tree.xpath("//meta[@property='article:modified_time' or @property='og:updated_time' or "
                       "@itemprop='dateModified']/@content")
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        found += _json_ld_values(script, "dateModified")
    days = [d for d in (_day(str(v).strip()) for v in found) if d]
    return max(days) if days and max(days) != published else None


def _json_ld_values(script: str, key: str) -> list[object]:
    """Every value of `key` anywhere in one JSON-LD script (nothing when it is not valid JSON)."""
    try:
        data = json.loads(script)
    except ValueError:
        return []
    out, todo = [], [data]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            out += [item[key]] if key in item else []
            todo += list(item.values())
        elif isinstance(item, list):
            todo += item
    return out


def _paragraphs(text: str) -> str:
    """trafilatura's lines (one a paragraph) apart by blank lines, as every qa article is."""
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    return "\n\n".join(line for line in lines if line)


def _authors(author: str | None) -> str | None:
    """Names joined by ", " (trafilatura joins them with "; ")."""
    if not author:
        return None
    names = [" ".join(n.split()) for n in re.split(r"\s*;\s*", author)]
    return ", ".join(n for n in names if n) or None


def _day(date: str | None) -> str | None:
    return date[:10] if date and re.match(r"\d{4}-\d{2}-\d{2}", date) else None


def _clean(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    return value or None
