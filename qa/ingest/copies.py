"""Wire copies: the same agency story run by several outlets (another headline, paragraphs trimmed or
re-ordered) recognised as copies of one story.

An article's text becomes a set of word 5-gram shingles, summarised by a MinHash signature (datasketch)
of NUM_PERM values. Copies are found with locality-sensitive hashing: the signature cut into BANDS bands
of ROWS values; two articles sharing a band are candidates (the store keeps the bands in a table, so a new
article is looked up in a few indexed queries, not compared with every article). A candidate is a copy
when the estimated containment of the shorter text in the longer (from the signatures' Jaccard estimate
and the two shingle counts) reaches CONTAINMENT: a trimmed copy is mostly contained in the full story,
while two different stories on one topic share a quote or two. Thresholds measured in bench/copies.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

NUM_PERM = 96
BANDS, ROWS = 48, 2  # a pair of Jaccard 0.2 shares a band with probability 1 - (1 - 0.2^2)^48 = 0.86
SHINGLE = 5
CONTAINMENT = 0.35
MIN_SHINGLES = 20  # a text shorter than this is no story to copy (a headline, a brief)
SEED = 1  # fixed: signatures are stored and compared across builds
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Signature:
    """An article's MinHash signature and how many distinct shingles it summarises."""

    values: np.ndarray  # uint32[NUM_PERM]
    shingles: int

    def bands(self) -> list[int]:
        """The LSH band keys: one signed 63-bit hash per band (SQLite INTEGER)."""
        rows = self.values.reshape(BANDS, ROWS).astype(np.uint64)
        keys = (rows[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ rows[:, 1]
        return [int(k & np.uint64(0x7FFFFFFFFFFFFFFF)) for k in keys]

    def to_bytes(self) -> bytes:
        return self.values.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, shingles: int) -> Signature:
        return cls(np.frombuffer(data, dtype="<u4").copy(), shingles)


def shingles(text: str) -> set[bytes]:
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + SHINGLE]).encode() for i in range(max(0, len(words) - SHINGLE + 1))}


def signature(text: str) -> Signature | None:
    """The signature of an article's text (None: too short to be a story worth matching)."""
    from datasketch import MinHash

    found = shingles(text)
    if len(found) < MIN_SHINGLES:
        return None
    m = MinHash(num_perm=NUM_PERM, seed=SEED)
    m.update_batch(list(found))
    return Signature(m.hashvalues.astype(np.uint32), len(found))


def jaccard(a: Signature, b: Signature) -> float:
    return float(np.mean(a.values == b.values))


def containment(a: Signature, b: Signature) -> float:
    """The estimated share of the smaller shingle set that the larger holds: from |A ∩ B| = J (|A| + |B|) /
    (1 + J)."""
    j = jaccard(a, b)
    common = j * (a.shingles + b.shingles) / (1 + j)
    return min(1.0, common / min(a.shingles, b.shingles))


def is_copy(a: Signature, b: Signature) -> bool:
    return containment(a, b) >= CONTAINMENT
