"""Keyword queries for SQLite FTS5: a question becomes an OR of its terms (English stop words dropped),
ranked by FTS5's BM25 over the Porter-stemmed, accent-folded passage text."""

from __future__ import annotations

import re

# Lucene's English stop words, as bm25s used here before. Question words stay: dropping them too cost
# 2-3 points of MRR on the seed questions ("who" and "when" do match the passages that answer).
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split())
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for `text` (each term quoted, so no character is FTS5 syntax), or None
    when nothing searchable is left."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word not in STOP_WORDS and word not in terms:
            terms.append(word)
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms[:MAX_TERMS])
