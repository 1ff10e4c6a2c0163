"""Evidence check: does the answer's passage mention the names and numbers the question asks about?

A near-miss question looks answerable but asks about something the text does not say: "Who signed the
memorandum?" when no memorandum is mentioned, or the right question with another year or another
person's name. The reader scores such spans about as high as right ones, so this check looks at the
question instead: its names (capitalised words after the first) and numbers must each appear in the
answer's passage or its article's title, loosely (case and a short ending ignored, digits without
separators), or the answer is withdrawn.
"""

from __future__ import annotations

import re

# Capitalised words that are not names in a question ("What did the U.S. do in May?" keeps U.S., May).
NOT_NAMES = frozenset("""
i what which who whom whose when where why how is are was were do does did can could should would will
the a an in on of for to and or by with from as at it its this that these those there
""".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'.\-]*[A-Za-z]|\d[\d,.]*\d|\d")


def key_terms(question: str) -> list[str]:
    """The question's names and numbers, lower-cased (numbers without separators), in order."""
    terms = []
    for i, m in enumerate(_WORD.finditer(question)):
        word = m.group()
        if word[0].isdigit():
            terms.append(re.sub(r"[,.]", "", word))
        elif i > 0 and word[0].isupper() and word.lower() not in NOT_NAMES and "." not in word and len(word) > 2:
            terms.append(word.lower().removesuffix("'s"))  # abbreviations (U.S., UN) are written too many ways
    return list(dict.fromkeys(terms))


def _stem(term: str) -> str:
    """A loose form: long words lose up to 2 final letters (Colombian ~ Colombia, Normans ~ Norman)."""
    return term[: max(4, len(term) - 2)] if not term.isdigit() else term


def _one_edit_apart(a: str, b: str) -> bool:
    """True when b is a with one letter changed, added, dropped, or two neighbours swapped."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return a == b
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return (a[i + 1:] == b[i + 1:] or a[i:] == b[i + 1:] or a[i + 1:] == b[i:]
            or a[i:i + 2][::-1] == b[i:i + 2] and a[i + 2:] == b[i + 2:])


def _mentions(term: str, text: str, words: set[str]) -> bool:
    if term.isdigit():
        return term in re.sub(r"(?<=\d)[,.](?=\d)", "", text)
    if all(_stem(part) in text for part in term.split("-") if part):
        return True
    return len(term) >= 5 and any(_one_edit_apart(term, w) for w in words if w[:1] == term[:1])  # misspelt


def missing_terms(question: str, evidence: str) -> list[str]:
    """The question's key terms that `evidence` (an article's text and title) does not mention."""
    text = evidence.lower()
    terms = key_terms(question)
    words = set(re.findall(r"[a-z]+", text)) if terms else set()
    return [t for t in terms if not _mentions(t, text, words)]
