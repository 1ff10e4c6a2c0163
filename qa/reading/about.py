"""Questions about an article itself: who wrote it, when it was published, which outlet ran it, where it
was reported from. They are answered from the article's metadata (read from its tags, fields or own
lines at indexing), pointed at the words in the article that say it when there are such words.

Only questions that ask about the article are taken ("Who wrote the article?", "When was it published?",
"Which outlet published the story?", "Where was this story reported from?"); a question about what the
article tells ("Who announced the designation?", "When did the presidents meet?") is read from the text
as any other."""

from __future__ import annotations

import re
from datetime import date

from qa.ingest.bylines import day_at, find_day
from qa.reading.dates import shown
from qa.records import Answer
from qa.store import ArticleRow

_THE_ARTICLE = (r"(?:it|this|that|the\s+(?:[\w'’.-]+\s+){0,6}?(?:article|story|piece|post|column|"
                r"news\s+story|op-?ed|blog\s+post)(?:\s+(?:about|on|of|from|by|in|that|which|with|saying)\s+[^?]{1,100}?)?"
                r"|(?:this|that)\s+(?:[\w'’.-]+\s+){0,4}?\w+)")
_START = r"^\s*(?:and|so|but|ok|okay|also)?[\s,]*"
QUESTIONS = {
    "author": re.compile(_START + rf"(?:who\s+(?:wrote|authored|penned|is\s+the\s+(?:author|writer)\s+of)\s+{_THE_ARTICLE}"
                         rf"|who\s+(?:is|was)\s+{_THE_ARTICLE}\s+(?:written\s+)?by"
                         rf"|by\s+whom\s+(?:is|was)\s+{_THE_ARTICLE}\s+written"
                         rf"|who\s+(?:is|was)\s+the\s+(?:author|writer|reporter|journalist)\b(?!\s+of\s+(?!{_THE_ARTICLE}\b)))",
                         re.I),
    "date": re.compile(_START + rf"(?:when\s+(?:was|is)\s+{_THE_ARTICLE}\s+(?:first\s+)?(?:published|written|posted|"
                       rf"dated)"
                       rf"|(?:on\s+)?what\s+(?:day|date)\s+was\s+{_THE_ARTICLE}\s+(?:published|written|posted)"
                       rf"|what\s+is\s+the\s+(?:publication\s+)?date\s+of\s+{_THE_ARTICLE})\b", re.I),
    "site": re.compile(_START + rf"(?:(?:which|what)\s+(?:outlet|publication|news\s*(?:site|outlet|organi[sz]ation|"
                       rf"agency|paper)|newspaper|site|website|paper|magazine|media\s+outlet)\s+(?:(?:published|ran|carried|"
                       rf"put\s+out)\s+{_THE_ARTICLE}|is\s+{_THE_ARTICLE}\s+from)"
                       rf"|who\s+published\s+{_THE_ARTICLE}|where\s+was\s+{_THE_ARTICLE}\s+published"
                       rf"|(?:which|what)\s+(?:outlet|publication|news\s*(?:site|outlet|organi[sz]ation|agency|paper)|"
                       rf"newspaper|agency|network|broadcaster)\s+(?:reported|was\s+reporting|filed)\s+from)\b", re.I),
    "dateline": re.compile(_START + rf"(?:where\s+(?:was|is)\s+{_THE_ARTICLE}\s+(?:reported|written|filed|datelined)"
                           rf"(?:\s+from)?|what\s+is\s+the\s+dateline\s+of\s+{_THE_ARTICLE})\b", re.I),
}
# A question naming no article ("when was it published?") asks about the one the conversation is on.
_NAMES_NONE = re.compile(rf"{_START}\w+\s+(?:\w+\s+){{0,3}}?(?:it|this|that)\b(?:\s+(?:article|story|piece))?", re.I)


_COMMON = {"who", "wrote", "when", "was", "the", "article", "story", "piece", "about", "published", "which",
           "what", "outlet", "and", "this", "that", "where", "from", "reported", "written", "author", "post"}


def metadata_field(question: str) -> str | None:
    """Which field of an article the question asks for ("author", "date", "site", "dateline"), or None
    when it asks about what an article tells."""
    for name, pattern in QUESTIONS.items():
        if pattern.search(question):
            return name
    return None


def names_no_article(question: str) -> bool:
    """Whether the question points at "it" / "this article" rather than naming one."""
    return bool(_NAMES_NONE.match(question)) and not re.search(r"\bthe\s+\w+", question, re.I)


def choose(question: str, field: str, rows: list[ArticleRow], read: list[str] = ()) -> ArticleRow | None:
    """Of the candidate articles (best retrieved first), the one the question means: the one whose field
    the reader's answers to the question (`read`, best first) say ("Shahida Muhammad" read from a byline
    line), else the one whose outlet or title the question names most, else the first; only articles
    that have the field count."""
    having = [r for r in rows if getattr(r, field)]
    for text in read:
        for row in having:
            if _says(field, getattr(row, field), text):
                return row
    text = re.sub(r"['’]s\b", "", question.strip())
    words = {w.lower() for w in re.findall(r"[^\W_]{3,}", text)} - _COMMON
    names = {w.lower() for w in re.findall(r"(?<!^)\b[A-Z][^\W_]+", text)} - _COMMON  # not the first word

    def own(row: ArticleRow) -> set[str]:
        return set(re.findall(r"[^\W_]{3,}", f"{row.site or ''} {row.dateline or ''} {row.title} {row.source} "
                                            f"{row.url or ''}".lower()))

    if names and not any(names & own(r) for r in rows):
        return None  # "the Medium article", and no article is known to be Medium's: do not guess
    return max(having, key=lambda r: len(words & own(r))) if having else None  # ties: the best retrieved


def _day(value: str) -> str:
    """A published date as its ISO day when it is one ("2022-03-10T14:30:00Z" -> "2022-03-10"), else as is."""
    return value[:10] if _is_day(value[:10]) else value


def _is_day(value: str) -> bool:
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _says(field: str, value: str, text: str) -> bool:
    if field == "date":
        return find_day(text) == _day(value)
    names = [n.strip().lower() for n in value.split(",")] if field == "author" else [value.lower()]
    return any(n and (n in text.lower() or text.lower() in n) and len(text) > 2 for n in names)


def metadata_answer(question: str, field: str, row: ArticleRow, text: str) -> Answer:
    """The Answer giving `row`'s `field`, pointed at the words of `text` (the article) that say it when
    it has them; its score is 1.0 when the article's own words say it, 0.9 when only its metadata does."""
    value = getattr(row, field)
    if field == "date":
        value = _day(value)
    where = _words_for(field, value, text)
    shown_value = shown(value) if field == "date" and _is_day(value) else value
    answer = Answer(question=question, text=shown_value, score=0.9, article=row.id, title=row.title, url=row.url,
                    date=row.date, site=row.site, metadata=field, resolved_date=value if field == "date" else None)
    if where is not None:
        start, end = where
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        answer.text = text[start:end] if field != "author" else value
        answer.start, answer.end, answer.score = start, end, 1.0
        answer.context, answer.context_start = text[line_start:line_end], line_start
    return answer


def _words_for(field: str, value: str, text: str) -> tuple[int, int] | None:
    """Where in the article's top or tail (the byline, date line, dateline, credits) the value is written."""
    if field == "date":
        top = text[:2000]
        for m in re.finditer(r"[^\n]+", top):
            found = day_at(m.group(0)) if len(m.group(0)) <= 100 else None
            if found and found[0] == value:
                return m.start() + found[1], m.start() + found[2]
        return None
    names = [n.strip() for n in value.split(",") if n.strip()] if field == "author" else [value]
    for name in names:
        for region_start, region in ((0, text[:2000]), (max(0, len(text) - 2000), text[-2000:])):
            i = region.find(name)
            if i >= 0:
                return region_start + i, region_start + i + len(name)
    return None

