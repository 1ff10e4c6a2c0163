"""qa: a small, local, extractive question-answering system over news articles.

    from qa import ask, build_index
    build_index()                                   # corpus/ -> index/, incremental
    ask("What do major non-NATO allies receive?")   # Answer(text="material and supply loans", ...)

Heavy libraries (torch, transformers, faiss) load on first use, so `import qa` stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["ask", "build_index", "get_pipeline", "Pipeline", "Settings", "Answer", "Article", "Passage",
           "Reader", "BuildReport", "QAError", "QuestionError", "read_articles"]

_LAZY = {
    "ask": "qa.pipeline", "build_index": "qa.pipeline", "get_pipeline": "qa.pipeline",
    "Pipeline": "qa.pipeline", "Settings": "qa.config", "QAError": "qa.errors", "QuestionError": "qa.errors",
    "Answer": "qa.records", "Article": "qa.records", "Passage": "qa.records", "Reader": "qa.reading.reader",
    "BuildReport": "qa.indexing.indexer", "read_articles": "qa.ingest.files",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
