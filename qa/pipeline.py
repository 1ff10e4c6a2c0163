"""Question in, answer out: serve the last committed index snapshot, retrieve, read, and merge the
reader's candidates. Readers never build (except the very first index, when there is none): a watcher
thread or `build_index()` brings the index up to date, and the next question sees the new snapshot."""

from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import Sequence
from typing import Any, Callable

from qa.chunking import Chunker, sentence_spans
from qa.config import Settings
from qa.conversation import resolve
from qa.embedding import Embedder
from qa.evidence import key_terms, missing_terms
from qa.corpus import signature
from qa.errors import QAError
from qa.indexing import BuildReport, Indexer
from qa.metrics import normalize_answer
from qa.reader import Reader
from qa.reading import read_passages
from qa.retrieval import DenseSearch, Retriever
from qa.store import ArticleRow, MergePolicy, Store
from qa.types import Answer, RetrievedPassage, Span

MAX_ALTERNATIVES = 5


class QuestionError(QAError, ValueError):
    """The question cannot be asked as given; the message says why."""


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
                 embedder: Embedder | None = None, reader: Reader | None = None,
                 dense_search: DenseSearch | None = None) -> None:
        """`embedder` and `reader` may be shared between pipelines (they must match the settings);
        `dense_search` runs the vector search elsewhere (qa.cluster.shards)."""
        self.settings = settings or Settings.load()
        s = self.settings
        self.log = log
        self.embedder = embedder or Embedder(s.embedding_model)
        self.reader = reader or Reader(s.reader_model, max_length=s.reader_max_length, stride=s.reader_stride,
                                       max_answer_tokens=s.max_answer_tokens, null_threshold=s.null_threshold,
                                       precision=s.reader_precision)
        self.store = Store(s.index_dir, nprobe=s.ivf_nprobe)
        self.dense_search = dense_search
        self._indexer: Indexer | None = None
        self._retriever: Retriever | None = None
        self._checked = 0.0
        self._lock = threading.RLock()
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self.timings: dict[str, float] = {}

    @property
    def indexer(self) -> Indexer:
        """The indexer, chunking with the reader's tokenizer (loaded alone, without the model)."""
        if self._indexer is None:
            from qa.reader_model import load_tokenizer

            s = self.settings
            chunker = Chunker(load_tokenizer(s.reader_model), s.passage_tokens, s.passage_overlap)
            policy = MergePolicy(flat_max=s.flat_max_passages, max_deltas=s.max_delta_segments,
                                 delta_share=s.delta_share, tombstone_share=s.tombstone_share)
            self._indexer = Indexer(s.corpus_dir, self.store, chunker, self.embedder, s.embedding_model,
                                    policy=policy, max_article_bytes=s.max_article_bytes,
                                    batch_passages=s.commit_passages, log=self.log, shards=s.index_shards,
                                    vectors=s.index_vectors)
        return self._indexer

    def build_index(self, rebuild: bool = False, files: list[str] | None = None, compact: bool = False,
                    log: Callable[[str], None] | None = None) -> BuildReport:
        """Bring the index in line with the corpus folder (incremental unless `rebuild`; only the named
        `files` when given; `compact` merges every segment into one). The next question sees it."""
        report = self.indexer.run(rebuild=rebuild, files=files, compact=compact, log=log)
        self._checked = 0.0
        if self._retriever is not None and report.commits:
            self.retriever()  # move to the new snapshot now: the old one's lease pins nothing for long
        return report

    def retriever(self) -> Retriever:
        """The retriever over the last committed snapshot, renewed when a newer one is committed (checked
        at most once a second, by one small query). Builds only when there is no index at all."""
        if self._retriever is not None and time.monotonic() - self._checked < 1.0:
            return self._retriever
        with self._lock:
            s = self.settings
            version = self.store.version()
            if version[1] == 0:
                if not s.corpus_dir.is_dir():
                    raise FileNotFoundError(
                        f"no index in {s.index_dir} and no corpus folder {s.corpus_dir} to build it from")
                report = self.build_index()
                self.log(f"index built: {report.summary()}")
                version = self.store.version()
            if self._retriever is None or self._retriever.snapshot.version != version:
                self._retriever = Retriever(self.store.snapshot(), self.embedder, candidates=s.candidates,
                                            rrf_k=s.rrf_k, dense=self.dense_search)
            self._checked = time.monotonic()
            return self._retriever

    def watch(self) -> None:
        """Start a background thread that indexes changes to the corpus folder as they happen (checked
        every `watch_seconds`); a failed build is logged and retried at the next change, never raised."""
        with self._lock:
            if self._watcher is not None:
                return
            self._watcher = threading.Thread(target=self._watch_loop, name="qa-indexer", daemon=True)
            self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        self._stop.clear()

    def _watch_loop(self) -> None:
        """Every `watch_seconds`, index the folder if it changed: the folder's own mtime tells at once
        when a file was added, removed or renamed (an editor's save); a full stat pass of every file,
        at most every `watch_full_seconds`, also catches files edited in place."""
        seen: str | None = None
        folder_mtime, full_at = -1, 0.0
        while not self._stop.is_set():
            corpus = self.settings.corpus_dir
            try:
                mtime = corpus.stat().st_mtime_ns
            except OSError:
                mtime = -1
            if mtime != folder_mtime or time.monotonic() - full_at >= self.settings.watch_full_seconds:
                folder_mtime, full_at = mtime, time.monotonic()
                current = signature(corpus) if mtime >= 0 else None
                if current is not None and current != seen:
                    seen = current
                    self._build_quietly()
            self._stop.wait(self.settings.watch_seconds)

    def _build_quietly(self) -> None:
        """One watcher build: logged, never raised (a failed build is retried at the next change)."""
        try:
            report = self.build_index()
            if report.added or report.changed or report.removed or report.full_rebuild:
                self.log(f"index updated: {report.summary()}")
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one build
            self.log(f"indexing failed, retried at the next change: {type(exc).__name__}: {exc}")

    def ask(self, question: str, history: Sequence[Answer | str] | None = None, top_k: int | None = None) -> Answer:
        """Answer a question from the articles; `Answer.text` is None when they do not answer it.
        `history`: the earlier turns of the conversation, oldest first (Answers from ask() or question
        strings); a follow-up question is understood through them (see qa.conversation)."""
        asked = clean_question(question, self.settings.max_question_chars)
        q = resolve(asked, history).question
        t0 = time.perf_counter()
        retriever = self.retriever()
        t1 = time.perf_counter()
        vector = retriever.embed(q)
        t2 = time.perf_counter()
        hits = retriever.run(q, top_k or self.settings.top_k, query_vector=vector)
        t3 = time.perf_counter()
        spans = self.supported(q, hits, self.read(q, hits), retriever)
        t4 = time.perf_counter()
        answer = self.aggregate(asked, hits, spans, retriever.articles(hits))
        answer.resolved_question = q
        t5 = time.perf_counter()
        self.timings = {"refresh": t1 - t0, "embed": t2 - t1, "search": t3 - t2, "read": t4 - t3,
                        "aggregate": t5 - t4}
        return answer

    def read(self, question: str, hits: list[RetrievedPassage]) -> list[Span]:
        """The reader's spans over the retrieved passages, read as the settings say (see qa.reading)."""
        s = self.settings
        return read_passages(self.reader, question, [h.passage for h in hits], s.read_mode, s.read_first,
                             s.read_confidence).spans

    def supported(self, question: str, hits: list[RetrievedPassage], spans: list[Span],
                  retriever: Retriever) -> list[Span]:
        """The spans whose article mentions the question's names and numbers (all, when the check is off)."""
        if self.settings.evidence_check == "off" or not key_terms(question):
            return spans
        texts: dict[str, str] = {}
        kept = []
        for span in spans:
            passage = hits[span.passage_index].passage
            if passage.article_id not in texts:
                texts[passage.article_id] = passage.title + "\n" + "\n".join(
                    p.text for p in retriever.snapshot.article_passages(passage.article_id))
            if not missing_terms(question, texts[passage.article_id]):
                kept.append(span)
        return kept

    def aggregate(self, question: str, hits: list[RetrievedPassage], spans: list[Span],
                  articles: dict[str, ArticleRow]) -> Answer:
        """Merge spans with the same normalised text, keeping the best-scored occurrence. The reader
        already dropped spans that do not beat the null score, so no candidate means "no answer"."""
        merged: dict[str, Span] = {}
        for span in spans:  # spans come best first
            merged.setdefault(normalize_answer(span.text) or span.text.strip(), span)
        candidates = [self._located(question, span, hits, articles) for span in merged.values()]
        if not candidates:
            return Answer(question=question, text=None, score=0.0, passages=hits)
        best = candidates[0]
        best.alternatives = candidates[1 : 1 + MAX_ALTERNATIVES]
        best.passages = hits
        return best

    @staticmethod
    def _located(question: str, span: Span, hits: list[RetrievedPassage],
                 articles: dict[str, ArticleRow]) -> Answer:
        """An Answer for one span, with offsets in the whole article and the sentence around it."""
        passage = hits[span.passage_index].passage
        c0, c1 = span.start, span.end
        for s, e in sentence_spans(passage.text):
            if s <= span.start < e:
                c0 = s
            if s < span.end <= e:
                c1 = e
                break
        meta = articles.get(passage.article_id)
        return Answer(question=question, text=span.text, score=span.score, article=passage.article_id,
                      title=passage.title, start=passage.start + span.start, end=passage.start + span.end,
                      context=passage.text[c0:c1], context_start=passage.start + c0,
                      url=meta.url if meta else None, date=meta.date if meta else None)


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
        **overrides: Any) -> Answer:
    """Answer a question from the corpus, as a follow-up to `history` (earlier turns, oldest first) if
    given; settings come from the environment or keyword arguments. After the first answer, a watcher
    thread indexes changes to the corpus folder in the background."""
    pipeline = get_pipeline(**overrides)
    answer = pipeline.ask(question, history=history, top_k=top_k)
    pipeline.watch()  # only now: the models are loaded, so the watcher never races their first import
    return answer


def build_index(rebuild: bool = False, files: list[str] | None = None, compact: bool = False,
                **overrides: Any) -> BuildReport:
    """Index the corpus folder incrementally (in full with `rebuild=True`; only the named `files`;
    `compact=True` merges the vector segments into one)."""
    return get_pipeline(**overrides).build_index(rebuild=rebuild, files=files, compact=compact)
