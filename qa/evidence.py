"""Evidence check: does the answer's article mention the names and numbers the question asks about?

A near-miss question looks answerable but asks about something the text does not say: the right
question with another year or another person's name ("When did Duque meet Putin?"). The reader scores
such spans about as high as right ones, so this check looks at the question instead: its names
(capitalised words that do not start a sentence) and numbers must each appear in the answer's article
or its title, loosely (case, accents, a short ending, one misspelt letter, a name written in one word
or two, and digit separators are forgiven), or the answer is withdrawn. A question in Title Case has no
telling capitals: it is not checked.
"""

from __future__ import annotations

import re
import unicodedata

# Capitalised words that are not names in a question ("What did the U.S. do in May?" keeps May).
NOT_NAMES = frozenset("""
i what which who whom whose when where why how is are was were do does did can could should would will
the a an in on of for to and or by with from as at it its this that these those there
""".split())
_WORD = re.compile(r"[^\W\d_][\w'.\-]*[^\W_]|\d[\d,.]*\d|\d")
_SENTENCE_END = re.compile(r"[.?!]\s+$")


def _plain(text: str) -> str:
    """Lower-cased, accents dropped (Iván ~ Ivan), curly apostrophes straightened."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def key_terms(question: str) -> list[str]:
    """The question's names and numbers, plain (numbers without separators), in order; none for a
    question in Title Case, where capitals tell nothing."""
    words = list(_WORD.finditer(question))
    if _title_case([m.group() for m in words if not m.group()[0].isdigit()][1:]):
        return []
    terms = []
    for m in words:
        word = m.group()
        if word[0].isdigit():
            terms.append(re.sub(r"[,.]", "", word))
            continue
        starts_sentence = not question[: m.start()].strip() or _SENTENCE_END.search(question[: m.start()])
        if word[0].isupper() and not starts_sentence and word.lower() not in NOT_NAMES \
                and "." not in word and len(word) > 2:  # abbreviations (U.S., UN) are written too many ways
            terms.append(_plain(word).removesuffix("'s"))
    return list(dict.fromkeys(terms))


def _title_case(words: list[str]) -> bool:
    """Words after the first all capitalised, small words included ("When Did Duque Meet Putin")."""
    small = [w for w in words if w.lower() in NOT_NAMES]
    return all(w[0].isupper() for w in words) and (bool(small) or len(words) >= 3)


def _stem(term: str) -> str:
    """A loose form: long words lose up to 2 final letters (Colombian ~ Colombia, Normans ~ Norman)."""
    return term[: max(4, len(term) - 2)]


def _one_edit_apart(a: str, b: str) -> bool:
    """True when b is a with one letter changed, added, dropped, or two neighbours swapped."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return a == b
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return (a[i + 1:] == b[i + 1:] or a[i:] == b[i + 1:] or a[i + 1:] == b[i:]
            or a[i:i + 2][::-1] == b[i:i + 2] and a[i + 2:] == b[i + 2:])


def _mentions(term: str, text: str, digits: str, squeezed: str, words: set[str]) -> bool:
    if term.isdigit():
        return term in digits
    if all(_stem(part) in text for part in term.split("-") if part):
        return True
    if len(term) >= 6 and term in squeezed:  # written in two words (Superbowl ~ Super Bowl)
        return True
    return len(term) >= 5 and any(_one_edit_apart(term, w) for w in words if w[:1] == term[:1])  # misspelt


def missing_terms(question: str, evidence: str) -> list[str]:
    """The question's key terms that `evidence` (an article's title and text) does not mention."""
    terms = key_terms(question)
    if not terms:
        return []
    text = _plain(evidence)
    digits = re.sub(r"(?<=\d)[,.\s\u202f](?=\d)", "", text)
    squeezed = re.sub(r"[\s\-]+", "", text)
    words = set(re.findall(r"[^\W\d_]+", text))
    return [t for t in terms if not _mentions(t, text, digits, squeezed, words)]
