"""One conversation as a front-end keeps it: its last MAX_TURNS answers (what follow-up questions are read
against), and how a reply says that the articles hold no answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from qa.conversation.followups import MAX_TURNS
from qa.records import Answer

NOT_FOUND = "I couldn't find that in the articles."


class Asks(Protocol):
    """What a conversation asks through (a qa.pipeline.Pipeline)."""

    def ask(self, question: str, history: Sequence[Answer | str] | None = None, since: str | None = None,
            until: str | None = None, sources: Sequence[str] | None = None, article: str | None = None) -> Answer: ...


@dataclass
class Conversation:
    """The earlier answers of one topic, oldest first, never more than `max_turns`; and the one article
    the user asks about, if they chose one (kept for every follow-up until they leave it)."""

    turns: list[Answer] = field(default_factory=list)
    max_turns: int = MAX_TURNS
    article: str | None = None
    since: str | None = None  # the filters chosen (qa.records.Scope): kept for every question
    until: str | None = None
    sources: tuple[str, ...] = ()

    def ask(self, pipeline: Asks, question: str) -> Answer:
        """Ask `question` as a follow-up to this topic's turns (of the chosen article, if any), and keep
        its answer as the latest turn."""
        answer = pipeline.ask(question, history=self.turns, since=self.since, until=self.until,
                              sources=list(self.sources), article=self.article)
        self.turns = (self.turns + [answer])[-self.max_turns:]
        return answer

    def new_topic(self) -> None:
        """Forget the turns: the next question is read on its own."""
        self.turns = []

    def filter(self, since: str | None, until: str | None, sources: Sequence[str]) -> None:
        """Ask only of the articles published from `since` to `until`, by these outlets, from now on."""
        self.since, self.until = since or None, until or None
        self.sources = tuple(s.strip() for s in sources if s.strip())

    def about(self, article: str | None) -> None:
        """Ask about this one article from now on (None: about all of them again); a new topic."""
        self.article = article or None
        self.turns = []
