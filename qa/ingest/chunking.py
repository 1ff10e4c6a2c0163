"""Split articles into sentence-aligned, overlapping passages sized in tokens of the reader's tokenizer."""

from __future__ import annotations

import re
from typing import Any

from qa.records import Article, Passage

# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace, or at a line break.
_BOUNDARY = re.compile(r"""(?<=[.!?])["'”’)\]]*\s+|\n+""")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed; together they cover every non-space character."""
    spans = []
    pos = 0
    for m in _BOUNDARY.finditer(text):
        end = m.start()
        # keep closing quotes/brackets with the sentence they close
        while end < m.end() and not text[end].isspace():
            end += 1
        spans.append((pos, end))
        pos = m.end()
    spans.append((pos, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


class Chunker:
    """Packs whole sentences into passages of at most `max_tokens`, repeating ~`overlap` tokens of
    sentences between neighbours so an answer near a boundary is whole in at least one passage."""

    def __init__(self, tokenizer: Any, max_tokens: int = 200, overlap: int = 40) -> None:
        if max_tokens < 16 or not 0 <= overlap < max_tokens // 2:
            raise ValueError("need max_tokens >= 16 and 0 <= overlap < max_tokens / 2")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap = overlap

    def units(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, tokens) per sentence; sentences longer than a passage are cut at token boundaries."""
        spans = sentence_spans(text)
        if not spans:
            return []
        # verbose=False: sentences longer than the model's window are expected here (they get cut below)
        enc = self.tokenizer([text[s:e] for s, e in spans], add_special_tokens=False,
                             return_offsets_mapping=True, verbose=False)
        units: list[tuple[int, int, int]] = []
        for (s, e), offsets in zip(spans, enc["offset_mapping"]):
            n = len(offsets)
            if n <= self.max_tokens:
                units.append((s, e, max(n, 1)))
                continue
            # contiguous pieces cut at token starts, so no character between them is lost
            steps = range(0, n, self.max_tokens)
            cuts = [s] + [s + offsets[i][0] for i in steps[1:]] + [e]
            for a, b, i in zip(cuts, cuts[1:], steps):
                units.append((a, b, min(self.max_tokens, n - i)))
        return units

    def split(self, article: Article, first_id: int = 0) -> list[Passage]:
        """Passages of one article with ids first_id, first_id+1, ...; `text == article.text[start:end]`."""
        units = self.units(article.text)
        passages: list[Passage] = []
        i = 0
        while i < len(units):
            j, tokens = i, 0
            while j < len(units) and (j == i or tokens + units[j][2] <= self.max_tokens):
                tokens += units[j][2]
                j += 1
            start, end = units[i][0], units[j - 1][1]
            passages.append(Passage(first_id + len(passages), article.id, article.title,
                                    article.text[start:end], start, end))
            if j >= len(units):
                break
            # step back over trailing sentences worth <= overlap tokens, but always move forward
            back, k = 0, j
            while k - 1 > i and back + units[k - 1][2] <= self.overlap:
                k -= 1
                back += units[k][2]
            i = k
        return passages
