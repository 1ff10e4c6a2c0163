"""Keyword queries for SQLite FTS5: a question becomes an OR of its terms (English stop words dropped,
and on a large archive the terms common to more than 1 % of passages), ranked by FTS5's BM25 over the
Porter-stemmed, accent-folded passage text."""

from __future__ import annotations

import re
import sqlite3

from qa.store.schema import TOKENIZER

# Lucene's English stop words, as bm25s used here before. Question words stay: dropping them too cost
# 2-3 points of MRR on the seed questions ("who" and "when" do match the passages that answer).
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split())
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32


def query_words(text: str) -> list[str]:
    """The question's distinct words, lower-cased, stop words left out, at most MAX_TERMS."""
    words: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word not in STOP_WORDS and word not in words:
            words.append(word)
    return words[:MAX_TERMS]


def fts_query(words: list[str]) -> str | None:
    """An FTS5 MATCH expression OR-ing these words (each quoted, so no character is FTS5 syntax), or
    None when there are none."""
    return " OR ".join(f'"{w}"' for w in words) or None


def stems(conn: sqlite3.Connection, words: list[str]) -> list[str]:
    """Each word as the index's tokenizer stems it (through a one-row temporary FTS5 table of this
    connection; '' for a word that leaves no token)."""
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words USING fts5(w, tokenize='{TOKENIZER}')")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_stems USING fts5vocab(temp, query_words, 'instance')")
    conn.execute("DELETE FROM temp.query_words")
    conn.executemany("INSERT INTO temp.query_words(rowid, w) VALUES (?, ?)", list(enumerate(words)))
    found = dict((doc, term) for term, doc in conn.execute("SELECT term, doc FROM temp.query_stems"))
    return [found.get(i, "") for i in range(len(words))]


def uncommon(words: list[str], word_stems: list[str], common: frozenset[str]) -> list[str]:
    """The words whose stem is not common; all of them when every one is."""
    kept = [w for w, s in zip(words, word_stems) if s not in common]
    return kept or words


def common_terms(conn: sqlite3.Connection, share: float, min_passages: int) -> list[str]:
    """Stemmed terms in more than `share` of the passages (none below `min_passages` passages, where
    every posting list is short anyway). Reads the whole keyword index: run it at merges, not per query."""
    total = conn.execute("SELECT count(*) FROM passages WHERE deleted IS NULL").fetchone()[0]
    if total < min_passages:
        return []
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.passage_terms USING fts5vocab(main, passages_fts, 'row')")
    return [r[0] for r in conn.execute("SELECT term FROM temp.passage_terms WHERE doc > ?", (share * total,))]
