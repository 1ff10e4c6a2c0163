"""Evidence check: does the answer's article mention the names and numbers the question asks about?

A near-miss question looks answerable but asks about something the text does not say: the right
question with another year or another person's name ("When did Duque meet Putin?"). The reader scores
such spans about as high as right ones, so this check looks at the question instead: its names
(capitalised words that do not start a sentence) and numbers must each appear in the answer's article
or its title, loosely (case, accents, a short ending, one misspelt letter, a name written in one word
or two, and digit separators are forgiven; a number may be written in words, as news style writes
small ones: 3 ~ three, 10 ~ tenth, 21 ~ twenty-one, 2000000 ~ two million), or the answer is
withdrawn. A question in Title Case has no telling capitals: it is not checked.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable, Sequence

from qa.records import Passage, Span

# Capitalised words that are not names in a question ("What did the U.S. do in May?" keeps May).
NOT_NAMES = frozenset("""
i what which who whom whose when where why how is are was were do does did can could should would will
the a an in on of for to and or by with from as at it its this that these those there
""".split())
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_UNIT_ORDINALS = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
                  "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = {10 ** 9: "billion", 10 ** 6: "million", 10 ** 3: "thousand", 100: "hundred"}
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


def number_words(n: int) -> list[str]:
    """Ways to write n in words (space-separated): cardinal and ordinal under 100 (21: "twenty one",
    "twenty first"), and a round number's multiple of a scale ("2 million", "two million", "hundred")."""
    if n < 20:
        return [_UNITS[n], _UNIT_ORDINALS[n]]
    if n < 100:
        tens, unit = _TENS[n // 10 - 2], n % 10
        if not unit:
            return [tens, tens[:-1] + "ieth"]
        return [f"{tens} {_UNITS[unit]}", f"{tens} {_UNIT_ORDINALS[unit]}"]
    for scale, name in _SCALES.items():
        if n % scale == 0 and n // scale < 1000:
            k = n // scale
            return [f"{k} {name}"] + [f"{w} {name}" for w in number_words(k)[:1]] + ([name] if k == 1 else [])
    return []


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
    missing = [t for t in terms if not _mentions(t, text, digits, squeezed, words)]
    if any(t.isdigit() for t in missing):  # written in words?
        tokens = " " + " ".join(re.findall(r"[^\W_]+", text)) + " "  # words and numbers, one space apart
        missing = [t for t in missing if not (t.isdigit() and t[0] != "0"  # "02" is no number in words
                                              and any(f" {w} " in tokens for w in number_words(int(t))))]
    return missing


def supported(question: str, spans: list[Span], passages: Sequence[Passage],
              article_text: Callable[[str], str]) -> list[Span]:
    """The spans (read in `passages`) whose article mentions the question's names and numbers;
    `article_text(id)` is an article's text, looked up once per article."""
    if not key_terms(question):
        return spans
    texts: dict[str, str] = {}
    kept = []
    for span in spans:
        passage = passages[span.passage_index]
        if passage.article_id not in texts:
            texts[passage.article_id] = passage.title + "\n" + article_text(passage.article_id)
        if not missing_terms(question, texts[passage.article_id]):
            kept.append(span)
    return kept
