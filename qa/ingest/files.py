"""Read articles from a folder: .txt, .md, .html/.htm, .json/.jsonl; report and skip files that cannot be read.

Article ids are file names without extension (plus `-N` for the N-th record of a multi-record JSON file).
For text and Markdown the article text is the file's text as decoded, so offsets point into the file;
for HTML and JSON it is the extracted text. Metadata comes from a page's tags, a record's fields and, for
what these lack (and for plain text), from the article's own byline, date line and dateline (qa.ingest.bylines).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

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


def walk(corpus_dir: Path) -> Iterator[tuple[str, os.DirEntry]]:
    """(path relative to the folder, with "/", entry) of every file in it and its sub-folders, hidden files
    and folders (the trash among them) left out, and folders behind a symlink not entered."""
    todo = [("", str(corpus_dir))]
    while todo:
        prefix, folder = todo.pop()
        try:
            entries = list(os.scandir(folder))  # scandir knows the entry types without a stat per file
        except OSError:  # a sub-folder that cannot be listed (or went meanwhile): nothing of it is seen
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir(follow_symlinks=False):
                todo.append((f"{prefix}{e.name}/", e.path))
            elif not (e.is_symlink() and e.is_dir()):
                yield prefix + e.name, e


def folders_stamp(corpus_dir: Path) -> int:
    """A cheap fingerprint of the folder and its sub-folders (hidden ones and symlinked ones left out):
    their mtimes, which change when a file in them is added, removed or renamed; -1 when the folder is
    not there. One stat per folder, none per file."""
    try:
        stamps = [os.stat(corpus_dir).st_mtime_ns]
    except OSError:
        return -1
    todo = [str(corpus_dir)]
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:
            continue
        for e in entries:
            if not e.name.startswith(".") and e.is_dir(follow_symlinks=False):
                todo.append(e.path)
                try:
                    stamps.append(hash((e.path, e.stat(follow_symlinks=False).st_mtime_ns)))
                except OSError:
                    continue
    return hash(tuple(sorted(stamps))) & 0x7FFFFFFFFFFFFFFF  # never -1: that means "no folder"


def article_id_of(name: str) -> str:
    """An article's id: its file's path in the corpus folder without the extension ("2022/03/story")."""
    return PurePosixPath(name).with_suffix("").as_posix()


def corpus_files(corpus_dir: Path, skip: Iterable[str] = ()) -> list[Path]:
    """Article files in the folder and its sub-folders (not hidden, not named in `skip`), sorted by path."""
    if not corpus_dir.is_dir():
        return []
    skip = set(skip)
    return [corpus_dir / name for name in sorted(n for n, _ in walk(corpus_dir) if n not in skip)]


def file_stats(corpus_dir: Path) -> dict[str, list[int]]:
    """{path in the folder: [size, mtime_ns]} of the article files: what tells a file changed without
    reading it."""
    if not corpus_dir.is_dir():
        return {}
    out = {}
    for name, e in walk(corpus_dir):
        try:
            st = e.stat()
        except OSError:  # a dangling symlink, or a file deleted meanwhile
            continue
        out[name] = [st.st_size, st.st_mtime_ns]
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
            articles = read_source(root, path, max_bytes, article_id_of(path.relative_to(corpus_dir).as_posix()))
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


def read_source(root: Path, path: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                article_id: str | None = None) -> list[Article]:
    """Read one file of the corpus folder `root` (resolved), refusing symlinks that lead outside it;
    every failure is an ArticleError with the reason. `article_id`: see parse_file."""
    return parse_file(path, source_bytes(root, path, max_bytes), article_id)


def source_bytes(root: Path, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of one file of the corpus folder `root` (resolved), after the checks that need the
    file itself: a symlink must stay inside the folder, the type must be known, the size within limits."""
    try:
        if path.is_symlink() and root not in path.resolve().parents:
            raise ArticleError("symlink pointing outside the corpus folder")
        return _checked_bytes(path, max_bytes)
    except OSError as exc:
        raise ArticleError(f"unreadable: {exc.strerror or exc}") from None


def read_articles(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Article]:
    """The articles of one file, exactly as the index stores them (text, title and metadata), or
    ArticleError with the reason it cannot be read: `from qa import read_articles` shows what a file becomes."""
    path = Path(path)
    try:
        return parse_file(path, _checked_bytes(path, max_bytes))
    except OSError as exc:
        raise ArticleError(f"unreadable: {exc.strerror or exc}") from None


def _checked_bytes(path: Path, max_bytes: int) -> bytes:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ArticleError(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(sorted(SUFFIXES))}")
    size = path.stat().st_size
    if size > max_bytes:
        raise ArticleError(f"file too large ({size:,} bytes; the limit is {max_bytes:,})")
    return path.read_bytes()


def parse_file(path: Path, data: bytes, article_id: str | None = None) -> list[Article]:
    """Parse a file's bytes into articles (`path` gives the type; the file is not touched). The article's
    id is `article_id` (in the corpus: article_id_of its path there), else the file's name without its
    extension; the N-th record of a multi-record JSON file gets "-N" after it."""
    article_id = article_id or path.stem
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:  # a page declares its own charset: the page reader decodes it
        from qa.ingest.pages import read_page

        _refuse_binary(data)
        page = read_page(data)
        notice = "no main text found: the whole page was read" if page.whole_page else None
        meta = {k: getattr(page, k, None) for k in Article.META}
        return [_article(article_id, page.title, page.text, path, notice=notice, **_with_text_metadata(meta, page.text))]
    text = decode(data)
    if suffix in JSON_SUFFIXES:
        return _json_articles(path, text, article_id)
    title = first_line(text)
    if suffix != ".txt":
        title = re.sub(r"^\s*#+\s*", "", title)
    return [_article(article_id, title, text, path, **_with_text_metadata({}, text))]


def _with_text_metadata(meta: dict[str, str | None], text: str) -> dict[str, str | None]:
    """`meta` (what a page's tags or a record's fields say) with what the text's own byline, date line,
    dateline and credits say filling the fields it lacks."""
    from qa.ingest.bylines import text_metadata

    return {**text_metadata(text), **{k: v for k, v in meta.items() if v}}


def _refuse_binary(data: bytes) -> None:
    if not data.strip():
        raise ArticleError("empty file")
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ArticleError("binary file, not text")


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


def first_line(text: str) -> str:
    """The first non-blank line, its white space folded."""
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def _article(article_id: str, title: str, text: str, path: Path, notice: str | None = None,
             **meta: str | None) -> Article:
    if not text.strip():
        raise ArticleError("no text in the article")
    for field_name, value in (("text", text), ("title", title), *meta.items()):
        _check_unicode(field_name, value)
    title = " ".join((title or "").split()) or article_id
    return Article(id=article_id, title=title, text=text, path=str(path), notice=notice,
                   **{k: v for k, v in meta.items() if v})


def _check_unicode(field_name: str, value: str | None) -> None:
    """Refuse text that no UTF-8 file or database can hold: a lone UTF-16 surrogate (JSON's "\\ud83d")."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArticleError(f"the {field_name} holds an invalid character (a lone UTF-16 surrogate, "
                           f"{value[exc.start]!r} at position {exc.start})") from None


def _json_articles(path: Path, text: str, base_id: str) -> list[Article]:
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
        title = str(rec.get("title") or rec.get("headline") or first_line(body))
        article_id = base_id if len(records) == 1 else f"{base_id}-{n}"
        articles.append(_article(article_id, title, body, path, **_with_text_metadata(json_metadata(rec), body)))
    return articles


# The names a news record's metadata goes by, field by field (the first one present is taken).
JSON_FIELDS = {
    "url": ("url", "link", "canonical_url"),
    "date": ("date", "published", "publishedAt", "published_at", "datePublished", "pubDate"),
    "author": ("author", "authors", "byline", "creator"),
    "updated": ("updated", "modified", "dateModified", "updatedAt", "updated_at"),
    "site": ("site", "source", "outlet", "publisher", "site_name", "sitename"),
    "language": ("language", "lang", "inLanguage"),
}


def json_metadata(record: dict) -> dict[str, str | None]:
    """An article record's metadata under its common names; a name list becomes "A, B", an object its
    "name" ({"name": "CNN"}), a byline loses its "By "."""
    out: dict[str, str | None] = {}
    for field_name, names in JSON_FIELDS.items():
        value = next((record[n] for n in names if record.get(n)), None)
        out[field_name] = _json_text(value)
    if out["author"]:
        out["author"] = re.sub(r"^by\s+", "", out["author"], flags=re.IGNORECASE) or None
    return out


def _json_text(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("name") or value.get("title")
    if isinstance(value, list):
        parts = [_json_text(v) for v in value]
        value = ", ".join(p for p in parts if p)
    text = " ".join(str(value).split()) if value not in (None, "") else ""
    return text or None


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
    return title or first_line(text), text


def content_hash(article: Article) -> str:
    """What decides whether an article changed and must be stored again (the newer metadata fields count
    only where present, so an article without them keeps the hash it always had)."""
    h = hashlib.sha256()
    extra = [article.author, article.updated, article.site, article.language]
    parts = [article.title, article.text, article.url or "", article.date or ""]
    parts += [v or "" for v in extra] if any(extra) or article.dateline else []
    for part in parts + ([article.dateline] if article.dateline else []):
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
    """Refuse names that could escape the corpus folder or hide: a file name, or a path of sub-folders
    and a file name with "/" between ("2022/03/story.html"); return the name unchanged if fine."""
    if not name or name != name.strip() or "\\" in name or "\0" in name or name.startswith("/"):
        raise ArticleError(f"refused file name {name!r}: no backslashes, leading \"/\" or surrounding spaces allowed")
    parts = name.split("/")
    if any(not part or part != part.strip() for part in parts):
        raise ArticleError(f"refused file name {name!r}: an empty or space-padded folder name")
    if any(part.startswith(".") for part in parts):
        raise ArticleError(f"refused file name {name!r}: hidden names (and \"..\") are not allowed")
    if Path(name).suffix.lower() not in SUFFIXES:
        raise ArticleError(f"refused {name!r}: only {', '.join(sorted(SUFFIXES))} files can be added")
    return name
