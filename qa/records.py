"""The plain records that flow through the pipeline: Article -> Passage -> RetrievedPassage -> Span -> Answer
(with its Sources)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Article:
    """One source document. `text` is what all character offsets refer to."""

    id: str
    title: str
    text: str
    path: str = ""
    url: str | None = None  # canonical
    date: str | None = None  # published, ISO 8601
    author: str | None = None  # names joined by ", "
    updated: str | None = None  # last modified, ISO 8601
    site: str | None = None  # the outlet
    language: str | None = None
    dateline: str | None = None  # where it was reported from ("Washington" of "Washington CNN —")
    notice: str | None = None  # how it was read, when it is worth saying (a page read whole)

    META = ("url", "date", "author", "updated", "site", "language", "dateline")

    def meta(self) -> dict[str, str]:
        """The metadata it has, by field name."""
        return {k: getattr(self, k) for k in self.META if getattr(self, k)}


@dataclass
class Passage:
    """A slice `article.text[start:end]` of an article, small enough for the reader's window."""

    id: int
    article_id: str
    title: str
    text: str
    start: int
    end: int


@dataclass
class RetrievedPassage:
    """A passage with its retrieval score (reciprocal-rank fusion of dense and BM25 ranks)."""

    passage: Passage
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None


@dataclass
class Span:
    """A candidate answer from the reader; offsets are into `passages[passage_index]`.
    `margin` is how far its start+end logits beat the window's null (CLS) logits; `score` is the
    calibrated probability that the span is a right answer (a logistic function of the margin plus the
    span's log-probability inside its window; see qa.reading.reader)."""

    text: str
    score: float
    passage_index: int
    start: int
    end: int
    margin: float = 0.0


@dataclass(frozen=True)
class Scope:
    """Which articles a question is asked of: published from `since` to `until` (ISO days, both
    included; an undated article is outside any such range), from one of `sources` (outlets, by name or
    web address, case-insensitive, a part of the name will do), or the one article `article`. Empty: all."""

    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()
    article: str | None = None

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.sources or self.article)


@dataclass
class Source:
    """One article an answer was found in: where (offsets into its text) and whose it is."""

    article: str
    title: str
    start: int
    end: int
    site: str | None = None
    date: str | None = None
    story: str | None = None  # the story it is a wire copy of, if it is one


@dataclass
class Answer:
    """The reply to a question. `text` is None when the articles do not answer it."""

    question: str
    text: str | None
    score: float
    article: str | None = None
    title: str | None = None
    start: int | None = None
    end: int | None = None
    context: str | None = None
    context_start: int | None = None  # offset of `context` in the article, to place the answer in it
    url: str | None = None
    date: str | None = None
    site: str | None = None  # the outlet
    # a relative date in the answer ("Thursday", "last week") read from the article's date: ISO 8601, a
    # day or "start/end" (qa.reading.dates)
    resolved_date: str | None = None
    # for a question about the article itself: the metadata field it answers with ("author", "date",
    # "site", "dateline"; qa.reading.about), else None
    metadata: str | None = None
    # every article the same answer was found in, this answer's own first (wire copies, other outlets)
    sources: list[Source] = field(default_factory=list)
    alternatives: list[Answer] = field(default_factory=list)
    # where other articles answer differently, nearly as surely: their answers (also among `alternatives`)
    other_accounts: list[Answer] = field(default_factory=list)
    passages: list[RetrievedPassage] = field(default_factory=list)
    # the question as understood: a follow-up rewritten from the conversation, else `question` itself
    resolved_question: str | None = None
    # seconds spent in each step of ask(): refresh (the snapshot), embed, search, read, aggregate
    timings: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
