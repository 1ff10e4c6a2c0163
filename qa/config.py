"""One Settings object: defaults, overridden by environment variables, overridden by arguments; every
value is checked when the settings load (its type, its range, or one of its fixed choices), so a bad one
fails at start-up with the setting, its environment variable and what it may be."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from qa.errors import SettingsError

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_READER = str(PACKAGE_DIR / "models" / "reader")
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"

# The fixed choices of some settings; the code that acts on each dispatches on these same tables.
READ_MODES = ("adaptive", "full")  # qa.reading.adaptive
PRECISIONS = ("auto", "fp32", "bf16", "int8")  # qa.reading.reader
EVIDENCE_CHECKS = ("names", "off")  # qa.reading.evidence
VECTOR_STORAGE = {"float32": "Flat", "sq8": "SQ8"}  # `index_vectors` -> the FAISS codec (qa.store.segments)
CHOICES: dict[str, tuple[str, ...]] = {
    "read_mode": READ_MODES,
    "reader_precision": PRECISIONS,
    "evidence_check": EVIDENCE_CHECKS,
    "index_vectors": ("", *VECTOR_STORAGE),  # "": keep what the store was built with
}
# The smallest value each numeric setting may take (None: no bound); the few with an upper bound are checked
# in Settings.check.
MINIMUM: dict[str, float] = {
    "passage_tokens": 16, "passage_overlap": 0, "top_k": 1, "rrf_k": 0, "candidates": 1, "flat_max_passages": 1,
    "ivf_nprobe": 1, "index_shards": 0, "commit_passages": 1, "max_delta_segments": 1, "delta_share": 0,
    "tombstone_share": 0, "watch_seconds": 0.01, "watch_full_seconds": 0.01, "reader_max_length": 32,
    "reader_stride": 1, "max_answer_tokens": 1, "max_question_chars": 1, "max_article_bytes": 1,
    "asks_per_minute": 1, "ask_backlog": 0, "upload_files_per_request": 1, "uploads_per_minute": 1,
    "login_failures_per_minute": 1, "read_first": 1, "read_confidence": 0,
    "feed_minutes": 0, "fetch_timeout": 0.1, "fetch_max_bytes": 1, "fetch_host_delay": 0, "feed_items_per_update": 1,
}

# Environment variable -> settings field.
ENV = {
    "QA_CORPUS_DIR": "corpus_dir",
    "QA_INDEX_DIR": "index_dir",
    "QA_READER_MODEL": "reader_model",
    "QA_EMBEDDING_MODEL": "embedding_model",
    "QA_TOP_K": "top_k",
    "QA_NULL_THRESHOLD": "null_threshold",
    "QA_ARTICLE_NULL_THRESHOLD": "article_null_threshold",
    "QA_ASKS_PER_MINUTE": "asks_per_minute",
    "QA_ASK_BACKLOG": "ask_backlog",
    "QA_UPLOAD_FILES_PER_REQUEST": "upload_files_per_request",
    "QA_UPLOADS_PER_MINUTE": "uploads_per_minute",
    "QA_LOGIN_FAILURES_PER_MINUTE": "login_failures_per_minute",
    "QA_READ_MODE": "read_mode",
    "QA_READER_PRECISION": "reader_precision",
    "QA_EVIDENCE_CHECK": "evidence_check",
    "QA_INDEX_SHARDS": "index_shards",
    "QA_INDEX_VECTORS": "index_vectors",
    "QA_IVF_NPROBE": "ivf_nprobe",
    "QA_FEED_MINUTES": "feed_minutes",
    "QA_FETCH_TIMEOUT": "fetch_timeout",
    "QA_FETCH_MAX_BYTES": "fetch_max_bytes",
    "QA_FETCH_HOST_DELAY": "fetch_host_delay",
    "QA_FETCH_PRIVATE": "fetch_private",
}


@dataclass(frozen=True)
class Settings:
    """Every tunable of the system in one place."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    reader_model: str = DEFAULT_READER
    embedding_model: str = DEFAULT_EMBEDDER
    # Chunking, in tokens of the reader's tokenizer so a passage fits one reader window with the question.
    passage_tokens: int = 200
    passage_overlap: int = 40
    # Retrieval.
    top_k: int = 5
    rrf_k: int = 60  # reciprocal-rank fusion constant (Cormack et al. 2009)
    candidates: int = 50  # how deep each retriever (dense, BM25) looks before fusion
    flat_max_passages: int = 50_000  # above this the base segment switches from exact (Flat) to IVF
    # Lists an IVF search probes: 128 of the first IVF base's 1,024 finds the own paragraph of a question in the
    # top 5 for 74.4 % of real questions against 75.1 % exact, 32 for 72.2 % (research/pq_recall.py --lists 1024).
    ivf_nprobe: int = 128
    # The base segment in this many parts, searched apart on a cluster (`qa serve --ray`); 0 keeps what the
    # store was built with (1 for a new store). Recorded in the store when given. See qa.store.compaction.
    index_shards: int = 0
    # How an IVF base stores its vectors: "float32", or "sq8" (a byte a dimension: a quarter of the memory,
    # recall@5 0.950 against 0.954 on real vectors); "" keeps what the store was built with (float32 for a
    # new store). Recorded in the store when given. See qa.store.segments.
    index_vectors: str = ""
    # Store: commits, merge policy, watching the corpus folder.
    commit_passages: int = 2048  # an incremental build commits every this many passages
    max_delta_segments: int = 8  # more small segments than this merge into one
    delta_share: float = 0.25  # segments holding more than this share of the base's vectors fold into it
    tombstone_share: float = 0.2  # deleted vectors above this share of all vectors: compact
    watch_seconds: float = 2.0  # how often the server's indexer looks at the corpus folder's mtime
    watch_full_seconds: float = 30.0  # how often it also stats every file (to catch in-place edits)
    # Reader.
    reader_max_length: int = 384
    reader_stride: int = 128
    max_answer_tokens: int = 30
    # A span must beat its window's null (CLS) logit sum by this much; None: the threshold stored with the
    # reader model (qa_reader.json, chosen by bench/null_sweep.py), 0.0 for a model without one.
    null_threshold: float | None = None
    # The same for a question asked about one article (ask(article=...), the chat's "Ask about"), where the
    # asker says the answer is in it; -inf: its best span answers (unless the names check withdraws it).
    # Chosen on news: bench/news.py, bench/RESULTS.md.
    article_null_threshold: float = float("-inf")
    max_question_chars: int = 1000
    max_article_bytes: int = 10_000_000
    # Serving to others: limits per client address (asks) or per editor (uploads).
    asks_per_minute: int = 30
    ask_backlog: int = 16  # questions waiting for a free answering slot; beyond that: "busy, try again"
    upload_files_per_request: int = 20
    uploads_per_minute: int = 60  # files uploaded or pasted
    login_failures_per_minute: int = 10  # failed editor sign-ins (all clients together) before a pause
    # "adaptive": read the 2 best-retrieved passages first and stop when their best span scores >= 0.8;
    # "full": read all top_k passages (v0.1). See qa.reading.
    read_mode: str = "adaptive"
    read_first: int = 2
    read_confidence: float = 0.8
    # "auto": bfloat16 weights on CPUs with AMX, else fp32; or "fp32" / "bf16" / "int8" (faster, F1 moves).
    # See qa.reading.reader.
    reader_precision: str = "auto"
    # "names": an answer whose article (text or title) never mentions a name or number of the question is withdrawn
    # (see qa.reading.evidence); "off": answers stand on the reader's score alone.
    evidence_check: str = "names"
    # Feeds (qa.feeds): the served chat updates its feeds every this many minutes (0: never by itself);
    # fetching: seconds to wait for an answer, the largest page or feed, seconds between two requests to one
    # host, new items taken from one feed at one update, and whether links may lead to loopback, private or
    # link-local addresses (they may anyway when the feed itself lives on such an address).
    feed_minutes: float = 30.0
    fetch_timeout: float = 10.0
    fetch_max_bytes: int = 5_000_000
    fetch_host_delay: float = 1.0
    feed_items_per_update: int = 200
    fetch_private: bool = False

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Defaults < environment variables < explicit keyword arguments (None means "not given")."""
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for var, name in ENV.items():
            if os.environ.get(var):
                values[name] = os.environ[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - set(types)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}; "
                                f"the settings are {', '.join(sorted(types))}")
        settings = replace(cls(), **{k: _coerce(k, types[k], v) for k, v in values.items()})
        settings.check()
        return settings

    def check(self) -> None:
        """Raise SettingsError for the first value out of its range or choices."""
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                shown = ", ".join(repr(c) if not c else c for c in choices)
                raise SettingsError(f"bad value {getattr(self, name)!r} for setting {_where(name)}: "
                                    f"use one of {shown}")
        for name, least in MINIMUM.items():
            if getattr(self, name) < least:
                raise SettingsError(f"bad value {getattr(self, name)!r} for setting {_where(name)}: "
                                    f"must be {least:g} or more")
        if self.passage_overlap >= self.passage_tokens // 2:
            raise SettingsError(f"passage_overlap ({self.passage_overlap}) must be under half of passage_tokens "
                                f"({self.passage_tokens})")
        if self.read_confidence > 1:
            raise SettingsError(f"bad value {self.read_confidence!r} for setting read_confidence: "
                                f"a score from 0 to 1")


def env_var(name: str) -> str | None:
    """The environment variable of a setting, if it has one."""
    return next((var for var, field in ENV.items() if field == name), None)


def _where(name: str) -> str:
    var = env_var(name)
    return f"{name} ({var})" if var else name


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    kind = str(type_name)
    try:
        if kind == "Path":
            return Path(value)
        if kind == "bool":
            return _flag(name, value)
        if kind == "int":
            return int(value)
        if kind in ("float", "float | None"):
            return float(value)
    except (TypeError, ValueError):
        var = env_var(name)
        where = f"{name} ({var})" if var and os.environ.get(var) == value else name
        raise SettingsError(f"bad value {value!r} for setting {where}: expected {kind.split(' ')[0]}") from None
    return str(value) if kind == "str" else value


def _flag(name: str, value: Any) -> bool:
    """A yes/no setting: a bool, or 1/0, true/false, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"bad value {value!r} for setting {_where(name)}: use 1 or 0 (true/false, yes/no)")
