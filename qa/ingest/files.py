"""Read articles from a folder: .txt, .md, .html/.htm, .json/.jsonl; report and skip files that cannot be read.

Article ids are file names without extension (plus `-N` for the N-th record of a multi-record JSON file).
For text and Markdown the article text is the file's text as decoded, so offsets point into the file;
for HTML and JSON it is the extracted text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable

from qa.errors import ArticleError
from qa.records import Article

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES
DEFAULT_MAX_BYTES = 10_000_000


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class CorpusScan:
    """Articles read from a folder, and the files that were skipped with the reason."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def corpus_files(corpus_dir: Path, skip: Iterable[str] = ()) -> list[Path]:
    """Article files in the folder (not hidden, not in sub-folders, not named in `skip`), sorted by name."""
    if not corpus_dir.is_dir():
        return []
    skip = set(skip)
    with os.scandir(corpus_dir) as entries:  # scandir knows the entry types without a stat per file
        names = sorted(e.name for e in entries
                       if not e.name.startswith(".") and e.name not in skip and not e.is_dir())
    return [corpus_dir / n for n in names]


def file_stats(corpus_dir: Path) -> dict[str, list[int]]:
    """{file name: [size, mtime_ns]} of the article files: what tells a file changed without reading it."""
    if not corpus_dir.is_dir():
        return {}
    out = {}
    with os.scandir(corpus_dir) as entries:
        for e in entries:
            if e.name.startswith(".") or e.is_dir():
                continue
            try:
                st = e.stat()
            except OSError:  # a dangling symlink, or a file deleted meanwhile
                continue
            out[e.name] = [st.st_size, st.st_mtime_ns]
    return dict(sorted(out.items()))


def signature(corpus_dir: Path, stats: dict[str, list[int]] | None = None) -> str:
    """A cheap fingerprint of the folder (names, sizes, mtimes) to notice changes without reading files."""
    return hashlib.sha1(json.dumps(file_stats(corpus_dir) if stats is None else stats).encode()).hexdigest()


def text_digest(article: Article) -> str:
    """Fingerprint of an article's words, to catch the same text saved twice under other names."""
    return hashlib.sha1(" ".join(article.text.split()).encode("utf-8", "surrogatepass")).hexdigest()


def read_corpus(corpus_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES, skip: Iterable[str] = (),
                known_ids: dict[str, str] | None = None, known_texts: dict[str, str] | None = None) -> CorpusScan:
    """Read every article file except those named in `skip`; a bad file is recorded in `skipped` and never
    stops the others. `known_ids`/`known_texts` (id or text digest -> file) are articles already held."""
    scan = CorpusScan()
    root = corpus_dir.resolve()
    seen: dict[str, str] = dict(known_ids or {})
    texts: dict[str, str] = dict(known_texts or {})  # a copy of an article would return every answer twice
    for path in corpus_files(corpus_dir, skip):
        try:
            articles = read_source(root, path, max_bytes)
        except ArticleError as exc:
            scan.skipped.append(Skipped(str(path), str(exc)))
            continue
        for article in articles:
            if article.id in seen:
                scan.skipped.append(Skipped(str(path), f"article id {article.id!r} already used by {seen[article.id]}"))
                continue
            digest = text_digest(article)
            if digest in texts:
                scan.skipped.append(Skipped(str(path), f"same text as {texts[digest]}"))
                continue
            seen[article.id] = str(path)
            texts[digest] = str(path)
            scan.articles.append(article)
    return scan


def read_source(root: Path, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Article]:
    """Read one file of the corpus folder `root` (resolved), refusing symlinks that lead outside it;
    every failure is an ArticleError with the reason."""
    return parse_file(path, source_bytes(root, path, max_bytes))


def source_bytes(root: Path, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of one file of the corpus folder `root` (resolved), after the checks that need the
    file itself: a symlink must stay inside the folder, the type must be known, the size within limits."""
    try:
        if path.is_symlink() and root not in path.resolve().parents:
            raise ArticleError("symlink pointing outside the corpus folder")
        return _checked_bytes(path, max_bytes)
    except OSError as exc:
        raise ArticleError(f"unreadable: {exc.strerror or exc}") from None


def read_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Article]:
    """Parse one file into articles, or raise ArticleError with the reason."""
    return parse_file(path, _checked_bytes(path, max_bytes))


def _checked_bytes(path: Path, max_bytes: int) -> bytes:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ArticleError(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(sorted(SUFFIXES))}")
    size = path.stat().st_size
    if size > max_bytes:
        raise ArticleError(f"file too large ({size:,} bytes; the limit is {max_bytes:,})")
    return path.read_bytes()


def parse_file(path: Path, data: bytes) -> list[Article]:
    """Parse a file's bytes into articles (`path` gives the name and type; the file is not touched)."""
    text = decode(data)
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        return _json_articles(path, text)
    if suffix in HTML_SUFFIXES:
        title, body = extract_html(text)
        return [_article(path.stem, title, body, path)]
    title = _first_line(text)
    if suffix != ".txt":
        title = re.sub(r"^\s*#+\s*", "", title)
    return [_article(path.stem, title, text, path)]


def decode(data: bytes) -> str:
    """UTF-8 (BOM allowed), UTF-16 with a BOM, else Windows-1252 (the Latin-1 superset that older
    Western news pages use); bytes that are none of these, or decode to control characters, are refused."""
    if not data.strip():
        raise ArticleError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ArticleError(f"broken UTF-16 text: {exc.reason}") from None
    else:
        if b"\x00" in data[:8192]:
            raise ArticleError("binary file, not text")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                raise ArticleError(f"neither UTF-8 nor Windows-1252 text (byte {exc.start}); save it as UTF-8") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _control_ratio(text) > 0.01:
        raise ArticleError("binary file, not text")
    return text


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")  # control characters other than \t \n \v \f \r


def _control_ratio(text: str) -> float:
    sample = text[:8192]
    return len(_CONTROL.findall(sample)) / max(1, len(sample))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def _article(article_id: str, title: str, text: str, path: Path, url: str | None = None,
             date: str | None = None) -> Article:
    if not text.strip():
        raise ArticleError("no text in the article")
    for field_name, value in (("text", text), ("title", title), ("url", url), ("date", date)):
        _check_unicode(field_name, value)
    title = " ".join((title or "").split()) or article_id
    return Article(id=article_id, title=title, text=text, path=str(path), url=url, date=date)


def _check_unicode(field_name: str, value: str | None) -> None:
    """Refuse text that no UTF-8 file or database can hold: a lone UTF-16 surrogate (JSON's "\\ud83d")."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArticleError(f"the {field_name} holds an invalid character (a lone UTF-16 surrogate, "
                           f"{value[exc.start]!r} at position {exc.start})") from None


def _json_articles(path: Path, text: str) -> list[Article]:
    try:
        if path.suffix.lower() == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            records = data if isinstance(data, list) else [data]
    except json.JSONDecodeError as exc:
        raise ArticleError(f"invalid JSON: {exc.msg} at line {exc.lineno}") from None
    articles = []
    for n, rec in enumerate(records, 1):
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec["text"].strip():
            raise ArticleError(f"record {n} has no 'text' field")
        body = rec["text"].replace("\r\n", "\n")
        title = str(rec.get("title") or _first_line(body))
        article_id = path.stem if len(records) == 1 else f"{path.stem}-{n}"
        url = rec.get("url")
        date = rec.get("date")
        articles.append(_article(article_id, title, body, path, str(url) if url else None,
                                 str(date) if date else None))
    return articles


class _TextExtractor(HTMLParser):
    """Visible text of a page: scripts, styles and page furniture (nav, header, footer...) dropped."""

    SKIP = {"script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "svg",
            "iframe", "button", "select"}
    BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
             "section", "article", "blockquote", "pre", "hr", "figure", "figcaption", "dd", "dt", "main"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.h1: list[str] = []
        self._skip = 0
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: Iterable[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag in ("title", "h1"):
            self._in = tag
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        if tag == self._in:
            self._in = None
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title.append(data)
            return
        if self._skip:
            return
        if self._in == "h1":
            self.h1.append(data)
        self.parts.append(data)


def extract_html(html: str) -> tuple[str, str]:
    """Return (title, text) of an HTML page; paragraphs separated by blank lines."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    raw = "".join(parser.parts)
    paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n|\n", raw)]
    text = "\n\n".join(p for p in paragraphs if p)
    title = " ".join("".join(parser.title).split()) or " ".join("".join(parser.h1).split())
    return title or _first_line(text), text


def content_hash(article: Article) -> str:
    """What decides whether an article changed and must be re-embedded."""
    h = hashlib.sha256()
    for part in (article.title, article.text, article.url or "", article.date or ""):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def slugify(text: str, max_len: int = 80) -> str:
    """A safe file-name stem: lower-case ASCII letters, digits and dashes."""
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "article"


def check_upload_name(name: str) -> str:
    """Refuse names that could escape the corpus folder or hide; return the name unchanged if fine."""
    if not name or name != name.strip() or "/" in name or "\\" in name or "\0" in name:
        raise ArticleError(f"refused file name {name!r}: no path separators or surrounding spaces allowed")
    if name.startswith(".") or name in (".", ".."):
        raise ArticleError(f"refused file name {name!r}: hidden names are not allowed")
    if Path(name).suffix.lower() not in SUFFIXES:
        raise ArticleError(f"refused {name!r}: only {', '.join(sorted(SUFFIXES))} files can be added")
    return name
