"""Question in, answer out, over the last committed index snapshot: understand a follow-up, retrieve,
read, check the evidence, build the Answer. And the index kept in line with the corpus folder: built
when asked (`build_index`), the very first time it is needed (`ensure_index`), or by a watcher thread
while serving (`watch`). The next question after a commit sees the new snapshot.

    from qa import ask, build_index
    build_index()                                   # corpus/ -> index/, incremental
    ask("What do major non-NATO allies receive?")   # Answer(text="material and supply loans", ...)
"""

from __future__ import annotations

import functools
import re
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any, Callable

from qa.config import Settings
from qa.conversation.followups import is_vague, resolve
from qa.errors import ArticleError, IndexDamaged, NotFoundError, QuestionError, StoreError, UsageError
from qa.indexing.indexer import BuildReport, Indexer
from qa.indexing.watcher import Watcher
from qa.reading.about import choose, metadata_answer, metadata_field, names_no_article
from qa.reading.adaptive import read_passages
from qa.reading.answers import VAGUE_LOGIT, build_answer, discounted
from qa.reading.evidence import supported
from qa.reading.reader import Reader
from qa.reading.weights import load_tokenizer
from qa.records import Answer, RetrievedPassage, Scope, Span
from qa.retrieval.embedding import Embedder, TextEncoder
from qa.retrieval.retriever import DenseSearch, Retriever
from qa.store import ArticleRow, Store

SNAPSHOT_CHECK_SECONDS = 1.0  # how often ask() looks for a newer committed snapshot
REBUILDING = ("the index was damaged and is being rebuilt from the corpus (its damaged files are kept in "
              "index/damaged-*); ask again in a little while")


def clean_question(question: Any, max_chars: int) -> str:
    """Drop control characters and surrounding space; refuse empty, word-less or over-long questions."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in question)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty")
    if len(text) > max_chars:
        raise QuestionError(f"the question is too long ({len(text):,} characters; the limit is {max_chars:,})")
    if not any(c.isalnum() for c in text):
        raise QuestionError("the question has no words in it")
    return text


class Pipeline:
    """Holds the models (loaded once) and the current index snapshot; thread-safe."""

    def __init__(self, settings: Settings | None = None, log: Callable[[str], None] = print,
                 embedder: TextEncoder | None = None, reader: Reader | None = None,
                 dense_search: DenseSearch | None = None) -> None:
        """`embedder` and `reader` may be shared between pipelines (they must match the settings);
        `dense_search` runs the vector search elsewhere (qa.cluster.shards)."""
        self.settings = settings or Settings.load()
        s = self.settings
        self.log = log
        self.embedder = embedder or Embedder(s.embedding_model)
        self.reader = reader or Reader.from_settings(s)
        self.store = Store(s.index_dir, nprobe=s.ivf_nprobe)
        self.dense_search = dense_search
        self.watcher = Watcher(s.corpus_dir, self.build_index, log, s.watch_seconds, s.watch_full_seconds,
                               index_gone=lambda: not self.store.exists())
        self._retriever: Retriever | None = None
        self._checked = 0.0
        self._lock = threading.RLock()
        self._rebuilding: threading.Thread | None = None

    @functools.cached_property
    def indexer(self) -> Indexer:
        """The indexer, chunking with the reader's tokenizer (loaded alone, without the model)."""
        return Indexer.from_settings(self.settings, self.store, self.embedder,
                                     load_tokenizer(self.settings.reader_model), log=self.log)

    # --- the index ----------------------------------------------------------------------------------
    def build_index(self, rebuild: bool = False, files: list[str] | None = None, compact: bool = False,
                    log: Callable[[str], None] | None = None) -> BuildReport:
        """Bring the index in line with the corpus folder (incremental unless `rebuild`; only the named
        `files` when given; `compact` merges every segment into one). The next question sees it."""
        report = self.indexer.run(rebuild=rebuild, files=files, compact=compact, log=log)
        self._checked = 0.0
        if self._retriever is not None and report.commits:
            self.retriever()  # move to the new snapshot now: the old one's lease pins nothing for long
        return report

    def ensure_index(self) -> None:
        """Build the index when there is none (the first start over a corpus folder, or its folder was
        deleted under a running server), else nothing. Looked at no more than once a second."""
        if self._retriever is not None and time.monotonic() - self._checked < SNAPSHOT_CHECK_SECONDS:
            return
        if self._rebuilding is not None and self._rebuilding.is_alive():
            raise StoreError(REBUILDING)
        if self.store.generation() > 0:
            return
        with self._lock:
            if self.store.generation() > 0:
                return
            if not self.settings.corpus_dir.is_dir():
                raise NotFoundError(f"no index in {self.settings.index_dir} and no corpus folder "
                                    f"{self.settings.corpus_dir} to build it from")
            if self._retriever is not None:
                self.log(f"the index in {self.settings.index_dir} is gone (deleted?): it is built again from "
                         f"{self.settings.corpus_dir}")
                self._retriever = None
            self.log(f"index built: {self.build_index().summary()}")

    def retriever(self) -> Retriever:
        """The retriever over the last committed snapshot, moved to a newer one when one was committed
        (looked for at most once a second, by one small query)."""
        if self._retriever is not None and time.monotonic() - self._checked < SNAPSHOT_CHECK_SECONDS:
            return self._retriever
        with self._lock:
            version = self.store.version()
            if version[1] == 0:
                raise StoreError(f"no index in {self.settings.index_dir} yet; build it with `qa index`")
            if self._retriever is None or self._retriever.snapshot.version != version:
                s = self.settings
                self._retriever = Retriever(self.store.snapshot(), self.embedder, candidates=s.candidates,
                                            rrf_k=s.rrf_k, dense=self.dense_search)
            self._checked = time.monotonic()
            return self._retriever

    def article(self, article_id: str) -> tuple[ArticleRow, str]:
        """An indexed article: its stored record (title, source, metadata) and its text."""
        self.ensure_index()
        snapshot = self.retriever().snapshot
        rows = snapshot.articles([article_id])
        if not rows:
            raise ArticleError(f"no article {article_id!r} in the index (an id is the file's path in the corpus "
                               f"folder without its extension, e.g. 2022/03/story)")
        return rows[0], snapshot.article_text(article_id)

    def watch(self) -> None:
        """Index changes to the corpus folder in the background from now on (see qa.indexing.watcher)."""
        self.watcher.start()

    def stop_watching(self) -> None:
        self.watcher.stop()

    # --- questions ----------------------------------------------------------------------------------
    def ask(self, question: str, history: Sequence[Answer | str] | None = None, top_k: int | None = None,
            since: str | None = None, until: str | None = None, sources: Sequence[str] | None = None,
            article: str | None = None) -> Answer:
        """Answer a question from the articles; `Answer.text` is None when they do not answer it.
        `history`: the earlier turns of the conversation, oldest first (Answers from ask() or question
        strings); a follow-up question is understood through them (see qa.conversation). `since`/`until`
        (ISO days, included), `sources` (outlets) and `article` (an id) limit the articles asked. A question
        about an article itself (who wrote it, when it was published, which outlet, where from) is answered
        from its metadata (`Answer.metadata` says which). The index is built first when there is none yet.
        `Answer.timings` says where the time went."""
        asked = clean_question(question, self.settings.max_question_chars)
        scope = checked_scope(since, until, sources, article)
        q = resolve(asked, history).question
        field = metadata_field(asked)
        if field and not scope.article and names_no_article(asked):
            talked_of = last_article(history)  # "and when was it published?"
            if talked_of and self.retriever_has(talked_of):
                scope = replace(scope, article=talked_of)
        try:
            return self._answer(asked, q, top_k, scope, field)
        except IndexDamaged as exc:
            self.recover(exc)
            return self._answer(asked, q, top_k, scope, field)

    def recover(self, damage: IndexDamaged) -> None:
        """A damaged index: moved aside and rebuilt from the corpus. Here and now (the question waits, as
        for the very first build); while the pipeline watches the folder (a server), in the background,
        the question answered meanwhile with a StoreError saying so."""
        with self._lock:
            self._retriever = None
            if self._rebuilding is not None and self._rebuilding.is_alive():
                raise StoreError(REBUILDING) from None
            self.log(f"{damage}: moving it aside and rebuilding")
            if self.watcher.running:
                self._rebuilding = threading.Thread(target=self._rebuild_quietly, args=(str(damage),),
                                                    name="qa-rebuild", daemon=True)
                self._rebuilding.start()
                raise StoreError(REBUILDING) from None
            self.log(f"index rebuilt: {self.indexer.run(damaged=str(damage)).summary()}")
            self._checked = 0.0

    def _rebuild_quietly(self, damage: str) -> None:
        try:
            self.log(f"index rebuilt: {self.indexer.run(damaged=damage).summary()}")
        except Exception as exc:  # noqa: BLE001 - logged; the next question tries again
            self.log(f"rebuilding the damaged index failed: {type(exc).__name__}: {exc}")
        self._checked = 0.0

    def _answer(self, asked: str, q: str, top_k: int | None, scope: Scope, field: str | None) -> Answer:
        t0 = time.perf_counter()
        self.ensure_index()
        retriever = self.retriever()
        if scope.article and not retriever.snapshot.articles([scope.article]):
            raise ArticleError(f"no article {scope.article!r} in the index")
        t1 = time.perf_counter()
        vector = retriever.embed(q)
        t2 = time.perf_counter()
        k = top_k or self.settings.top_k
        if asks_for_the_latest(asked):  # the newest of three times as many passages
            hits = newest_first(retriever.run(q, 3 * k, query_vector=vector, scope=scope), retriever)[:k]
        else:
            hits = retriever.run(q, k, query_vector=vector, scope=scope)
        t3 = time.perf_counter()
        if field:
            read = [s.text for s in self.read(q, hits)[:3]] if not scope.article else []
            answer = self._about(asked, field, hits, scope, retriever, read)
            t4 = time.perf_counter()
        else:
            # an article the asker chose: its best span answers, however unsure (settings.article_null_threshold)
            threshold = self.settings.article_null_threshold if scope.article else None
            spans = self.supported(q, hits, self.read(q, hits, threshold), retriever)
            t4 = time.perf_counter()
            answer = build_answer(asked, hits, spans, retriever.articles(hits))
            if answer.text is not None and is_vague(q):  # names nothing: less sure than the reader is
                answer = discounted(answer, VAGUE_LOGIT)
        answer.resolved_question = q
        answer.timings = {"refresh": t1 - t0, "embed": t2 - t1, "search": t3 - t2, "read": t4 - t3,
                          "aggregate": time.perf_counter() - t4}
        return answer

    def retriever_has(self, article_id: str) -> bool:
        """Whether the index holds this article now (one deleted since it was talked about does not)."""
        self.ensure_index()
        return bool(self.retriever().snapshot.articles([article_id]))

    @staticmethod
    def _about(asked: str, field: str, hits: list[RetrievedPassage], scope: Scope, retriever: Retriever,
               read: list[str]) -> Answer:
        """The answer to a question about an article itself, from the metadata of the article meant (the
        one in scope, else the one whose field the reader's spans `read` say, else the one named or best
        retrieved that has the field: qa.reading.about.choose)."""
        ids = [scope.article] if scope.article else list(dict.fromkeys(h.passage.article_id for h in hits))
        rows = {r.id: r for r in retriever.snapshot.articles(ids)}
        row = choose(asked, field, [rows[i] for i in ids if i in rows], read)
        if row is None:
            return Answer(question=asked, text=None, score=0.0, passages=hits, metadata=field,
                          article=scope.article)
        answer = metadata_answer(asked, field, row, retriever.snapshot.article_text(row.id))
        answer.passages = hits
        return answer

    def read(self, question: str, hits: list[RetrievedPassage], null_threshold: float | None = None) -> list[Span]:
        """The reader's spans over the retrieved passages, read as the settings say (see qa.reading.adaptive);
        `null_threshold`: how far a span must beat the null (None: the reader's own)."""
        s = self.settings
        return read_passages(self.reader, question, [h.passage for h in hits], s.read_mode, s.read_first,
                             s.read_confidence, null_threshold).spans

    def supported(self, question: str, hits: list[RetrievedPassage], spans: list[Span],
                  retriever: Retriever) -> list[Span]:
        """The spans whose article mentions the question's names and numbers (all, when the check is off)."""
        if self.settings.evidence_check == "off":
            return spans
        snapshot = retriever.snapshot
        return supported(question, spans, [h.passage for h in hits],
                         lambda article: "\n".join(p.text for p in snapshot.article_passages(article)))


def checked_scope(since: str | None, until: str | None, sources: Sequence[str] | None,
                  article: str | None) -> Scope:
    """The Scope of a question, its days checked (YYYY-MM-DD) and its sources a list of names."""
    days = {}
    for name, value in (("since", since), ("until", until)):
        if value:
            try:
                days[name] = date.fromisoformat(value).isoformat()  # "20220310" -> "2022-03-10"
            except (TypeError, ValueError):
                raise UsageError(f"{name}={value!r} is not a day: write it as YYYY-MM-DD") from None
    since, until = days.get("since"), days.get("until")
    if since and until and since > until:
        raise UsageError(f"since ({since}) is after until ({until})")
    if isinstance(sources, str):
        sources = [sources]
    names = tuple(s.strip() for s in sources or () if s and s.strip())
    return Scope(since or None, until or None, names, (article or "").strip() or None)


_LATEST = re.compile(r"\b(?:latest|most\s+recent|newest|recent|last)\s+(?:news|updates?|developments?|stor(?:y|ies)|"
                     r"reports?|word|on)\b|\bwhat(?:'s|\s+is)\s+new\b|\bany\s+news\b", re.IGNORECASE)


def asks_for_the_latest(question: str) -> bool:
    """Whether a question asks for the latest news ("What is the latest on ...?")."""
    return bool(_LATEST.search(question))


def newest_first(hits: list[RetrievedPassage], retriever: Retriever) -> list[RetrievedPassage]:
    """The hits of the most recently published articles first (undated last), in retrieval order within
    one day."""
    dates = {a.id: a.date or "" for a in retriever.articles(hits).values()}
    return sorted(hits, key=lambda h: dates.get(h.passage.article_id, ""), reverse=True)


def last_article(history: Sequence[Answer | str] | None) -> str | None:
    """The article the conversation was last answered from (None: none yet)."""
    for turn in reversed(list(history or [])):
        if isinstance(turn, Answer) and turn.article:
            return turn.article
    return None


_pipelines: dict[Settings, Pipeline] = {}
_pipelines_lock = threading.Lock()


def get_pipeline(settings: Settings | None = None, **overrides: Any) -> Pipeline:
    """The process-wide pipeline for these settings, so models are loaded once per process."""
    settings = settings or Settings.load(**overrides)
    with _pipelines_lock:
        if settings not in _pipelines:
            _pipelines[settings] = Pipeline(settings)
        return _pipelines[settings]


def ask(question: str, history: Sequence[Answer | str] | None = None, top_k: int | None = None,
        since: str | None = None, until: str | None = None, sources: Sequence[str] | None = None,
        article: str | None = None, **overrides: Any) -> Answer:
    """Answer a question from the corpus, as a follow-up to `history` (earlier turns, oldest first) if
    given; settings come from the environment or keyword arguments. The index is built the first time if
    there is none; after adding articles, `build_index()` (or `get_pipeline().watch()`) brings it up to date."""
    return get_pipeline(**overrides).ask(question, history=history, top_k=top_k, since=since, until=until,
                                         sources=sources, article=article)


def build_index(rebuild: bool = False, files: list[str] | None = None, compact: bool = False,
                **overrides: Any) -> BuildReport:
    """Index the corpus folder incrementally (in full with `rebuild=True`; only the named `files`;
    `compact=True` merges the vector segments into one)."""
    return get_pipeline(**overrides).build_index(rebuild=rebuild, files=files, compact=compact)
