"""Question in, answer out: keep the index current, retrieve, read, and merge the reader's candidates."""

from __future__ import annotations

import threading
import time
import unicodedata
from typing import Any, Callable

from qa.chunking import Chunker, sentence_spans
from qa.config import Settings
from qa.embedding import Embedder
from qa.corpus import signature
from qa.index import MANIFEST, BuildReport, Indexer, load_index, read_manifest
from qa.metrics import normalize_answer
from qa.reader import Reader
from qa.reading import read_passages
from qa.retrieval import Retriever
from qa.types import Answer, RetrievedPassage, Span

MAX_ALTERNATIVES = 5


class QuestionError(ValueError):
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
                 embedder: Embedder | None = None, reader: Reader | None = None) -> None:
        """`embedder` and `reader` may be shared between pipelines (they must match the settings)."""
        self.settings = settings or Settings.load()
        s = self.settings
        self.log = log
        self.embedder = embedder or Embedder(s.embedding_model)
        self.reader = reader or Reader(s.reader_model, max_length=s.reader_max_length, stride=s.reader_stride,
                                       max_answer_tokens=s.max_answer_tokens, null_threshold=s.null_threshold,
                                       precision=s.reader_precision)
        self._indexer: Indexer | None = None
        self._retriever: Retriever | None = None
        self._checked = 0.0
        self._seen: tuple[str | None, tuple[int, int] | None] = (None, None)
        self._lock = threading.RLock()
        self.timings: dict[str, float] = {}

    @property
    def indexer(self) -> Indexer:
        """The indexer, chunking with the reader's tokenizer (loaded alone, without the model)."""
        if self._indexer is None:
            from qa.reader_model import load_tokenizer

            s = self.settings
            chunker = Chunker(load_tokenizer(s.reader_model), s.passage_tokens, s.passage_overlap)
            self._indexer = Indexer(s.corpus_dir, s.index_dir, chunker, self.embedder, s.embedding_model,
                                    flat_max_passages=s.flat_max_passages,
                                    max_article_bytes=s.max_article_bytes, log=self.log)
        return self._indexer

    def build_index(self, rebuild: bool = False, log: Callable[[str], None] | None = None) -> BuildReport:
        """Bring the index in line with the corpus folder (incremental unless `rebuild`)."""
        with self._lock:
            report = self.indexer.run(rebuild=rebuild, log=log)
            self._checked = 0.0
            return report

    def _state(self) -> tuple[str | None, tuple[int, int] | None]:
        """Cheap fingerprint of corpus folder and manifest file (stat calls only, no reads)."""
        s = self.settings
        try:
            st = (s.index_dir / MANIFEST).stat()
            manifest = (st.st_mtime_ns, st.st_size)
        except OSError:
            manifest = None
        return (signature(s.corpus_dir) if s.corpus_dir.is_dir() else None), manifest

    def retriever(self) -> Retriever:
        """The retriever over the current index; rebuilds or reloads when the corpus or index changed.
        Checked at most once a second, by file stats, so a warm ask() reads nothing from disk."""
        if self._retriever is not None and time.monotonic() - self._checked < 1.0:
            return self._retriever
        with self._lock:
            s = self.settings
            state = self._state()
            if self._retriever is None or state != self._seen:
                if state[0] is not None and not self.indexer.is_current(state[0]):
                    report = self.build_index()
                    self.log(f"index updated: {report.summary()}")
                manifest = read_manifest(s.index_dir)
                if manifest is None:
                    raise FileNotFoundError(
                        f"no index in {s.index_dir} and no corpus folder {s.corpus_dir} to build it from")
                if self._retriever is None or self._retriever.snapshot.generation != manifest["generation"]:
                    snapshot = load_index(s.index_dir, nprobe=s.ivf_nprobe)
                    self._retriever = Retriever(snapshot, self.embedder, candidates=s.candidates, rrf_k=s.rrf_k)
                self._seen = self._state()
            self._checked = time.monotonic()
            return self._retriever

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Answer a question from the articles; `Answer.text` is None when they do not answer it."""
        q = clean_question(question, self.settings.max_question_chars)
        t0 = time.perf_counter()
        retriever = self.retriever()
        t1 = time.perf_counter()
        vector = retriever.embed(q)
        t2 = time.perf_counter()
        hits = retriever.run(q, top_k or self.settings.top_k, query_vector=vector)
        t3 = time.perf_counter()
        spans = self._read(q, hits)
        t4 = time.perf_counter()
        answer = self.aggregate(q, hits, spans, retriever.snapshot.articles)
        t5 = time.perf_counter()
        self.timings = {"refresh": t1 - t0, "embed": t2 - t1, "search": t3 - t2, "read": t4 - t3,
                        "aggregate": t5 - t4}
        return answer

    def _read(self, question: str, hits: list[RetrievedPassage]) -> list[Span]:
        """The reader's spans over the retrieved passages, read as the settings say (see qa.reading)."""
        s = self.settings
        return read_passages(self.reader, question, [h.passage for h in hits], s.read_mode, s.read_first,
                             s.read_confidence).spans

    def aggregate(self, question: str, hits: list[RetrievedPassage], spans: list[Span],
                  articles: dict[str, dict[str, Any]]) -> Answer:
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
                 articles: dict[str, dict[str, Any]]) -> Answer:
        """An Answer for one span, with offsets in the whole article and the sentence around it."""
        passage = hits[span.passage_index].passage
        c0, c1 = span.start, span.end
        for s, e in sentence_spans(passage.text):
            if s <= span.start < e:
                c0 = s
            if s < span.end <= e:
                c1 = e
                break
        meta = articles.get(passage.article_id, {})
        return Answer(question=question, text=span.text, score=span.score, article=passage.article_id,
                      title=passage.title, start=passage.start + span.start, end=passage.start + span.end,
                      context=passage.text[c0:c1], context_start=passage.start + c0,
                      url=meta.get("url"), date=meta.get("date"))


_pipelines: dict[Settings, Pipeline] = {}
_pipelines_lock = threading.Lock()


def get_pipeline(settings: Settings | None = None, **overrides: Any) -> Pipeline:
    """The process-wide pipeline for these settings, so models are loaded once per process."""
    settings = settings or Settings.load(**overrides)
    with _pipelines_lock:
        if settings not in _pipelines:
            _pipelines[settings] = Pipeline(settings)
        return _pipelines[settings]


def ask(question: str, top_k: int | None = None, **overrides: Any) -> Answer:
    """Answer a question from the corpus; settings come from the environment or keyword arguments."""
    return get_pipeline(**overrides).ask(question, top_k=top_k)


def build_index(rebuild: bool = False, **overrides: Any) -> BuildReport:
    """Index the corpus folder incrementally (or in full with `rebuild=True`)."""
    return get_pipeline(**overrides).build_index(rebuild=rebuild)
