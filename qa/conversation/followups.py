"""Follow-up questions in a conversation: decide whether a question leans on the earlier turns and, if it
does, rewrite it into a standalone question, which then goes to retrieval and to the reader.

Rule-based (no language model is available): a question is a follow-up when it has a pronoun that points
outside itself ("who is *its* president?"), starts with "and" / "what about", or is a fragment without a
verb ("since when?", "of what?"). Pronouns are replaced by a referent from the previous turns (its answer
or the names and noun phrases of its question), chosen by the pronoun's kind: a person (he, his), a thing
(it, its), a group (they, their), a place (there). Fragments are completed from the previous question and
answer; one that starts with its question word goes in front of the previous question's clause ("When?"
after "Did Biden meet Duque?" -> "When did Biden meet Duque?"), and a short question with a verb of its
own stands alone once it says what it is about, by a replaced pronoun or a second specific word ("Who
saved him?", "Who scored the first?"; not "Who won?"). Only the last MAX_TURNS turns are looked at, so the
cost does not grow with the conversation.

Chosen by measurement (bench/conversations.py, bench/RESULTS.md): also searching with the previous
question and answer helped a little on the conversations the rules were written with and hurt on held-out
ones, so retrieval gets the rewritten question alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.records import Answer

MAX_TURNS = 3  # earlier turns than these are ignored

WH = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how"}
AUX = {"is", "are", "was", "were", "be", "been", "do", "does", "did", "has", "have", "had", "will", "would",
       "can", "could", "should", "may", "might", "must", "shall"}
PREPOSITIONS = {"of", "in", "to", "for", "on", "at", "by", "with", "about", "from", "since", "under", "into",
                "against", "after", "before", "during", "unlike", "than", "over", "besides", "according"}
PERSON = {"he", "him", "his", "she", "her", "hers"}
THING = {"it", "its"}
GROUP = {"they", "them", "their", "theirs"}
PLACE = {"there"}
POSSESSIVE = {"his", "its", "their", "theirs", "hers"}
OBJECT = {"him", "them"}  # never the subject of their own clause, so never bound inside the question
DEMONSTRATIVES = {"that", "this", "these", "those"}
LEAD = re.compile(r"(?i)^\W*(?:and|but|also|so|then)\b[\s,]*")  # "And where is it held?"
CONTRAST = re.compile(r"(?i)^\W*(?:and\s+)?(?:what about|how about|what of)\b[\s,]*")  # "What about Venezuela?"
QUANTIFIERS = {"many", "much", "more", "most", "some", "any", "all", "few", "several", "each", "every", "one"}
FUNCTION = WH | AUX | PREPOSITIONS | PERSON | THING | GROUP | PLACE | DEMONSTRATIVES | QUANTIFIERS | {
    "the", "a", "an", "and", "or", "not", "else", "other", "others", "so", "too", "also", "then", "than"}
# Words before a name in news text that mark it as a person's.
_TITLES = (r"(?:President|Mr\.?|Ms\.?|Mrs\.?|Dr\.?|Senator|Sen\.|Rep\.|Governor|Gov\.|Mayor|Minister|"
           r"minister|secretary|Secretary|spokesman|spokeswoman|chief|Chancellor|King|Queen|Pope|Judge|General|"
           r"Prime Minister|coach|CEO|director|editor)")
_SAID = r"(?:said|says|told|added|stated|wrote|asked)"
_WORD = re.compile(r"[A-Za-z0-9$€£][\w$€£%.,’'-]*[\w$%]|[A-Za-z0-9]")
_NAME = re.compile(r"[A-Z][\w’'.-]*|[0-9][\w-]*[A-Za-z][\w-]*")  # a capitalised word, or e.g. "COVID-19"


@dataclass(frozen=True)
class Turn:
    """An earlier turn: the question as it was understood, and its answer (None: none found).
    `evidence` is the text the answer came from, used to tell people's names from other names."""

    question: str
    answer: str | None = None
    evidence: str = ""


@dataclass(frozen=True)
class Resolution:
    """How a question is understood: `question` is the question as asked unless it is a follow-up."""

    question: str
    followup: bool


def turns_from(history: Sequence[Answer | str] | None, max_turns: int = MAX_TURNS) -> list[Turn]:
    """The last `max_turns` items of a history (oldest first; each an Answer or a question string)."""
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise TypeError(f"history must be a list of earlier turns (Answer or question text), "
                        f"not {type(history).__name__}")
    turns = []
    for item in history[len(history) - max_turns:] if len(history) > max_turns else history:
        if isinstance(item, Answer):
            evidence = " ".join([item.context or ""] + [h.passage.text for h in item.passages])
            turns.append(Turn(item.resolved_question or item.question, item.text, evidence))
        elif isinstance(item, str):
            turns.append(Turn(item))
        else:
            raise TypeError(f"each history turn must be an Answer or a question string, not {type(item).__name__}")
    return turns


def resolve(question: str, history: Sequence[Answer | str] | None = None) -> Resolution:
    """Understand `question` in the light of the earlier turns (see the module docstring)."""
    turns = [t for t in turns_from(history) if t.question.strip()]
    if not turns or not is_followup(question):
        return Resolution(question, followup=False)
    return Resolution(rewrite(question, turns), followup=True)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def _lower(text: str) -> list[str]:
    return [w.lower() for w in words(text)]


def is_followup(question: str) -> bool:
    """Whether the question needs the earlier turns to be understood."""
    low = _lower(question)
    if not low:
        return False
    if LEAD.match(question) or CONTRAST.match(question):
        return True
    return (_is_fragment(question) or is_vague(question) or bool(_outside_pronouns(question))
            or _has_back_reference(low))


def _specific_words(question: str) -> list[str]:
    """The words that say what a question is about: names and content words (not question words,
    auxiliaries, prepositions, pronouns, articles or quantifiers)."""
    return [w for w in words(question) if w.lower() not in FUNCTION]


def _is_fragment(question: str) -> bool:
    """No auxiliary verb and at most two specific words: "Since when?", "On which day of the week?",
    "The lynchpin to what?" (but not "Who wrote the Medium article?")."""
    return not any(w in AUX for w in _lower(question)) and len(_specific_words(question)) <= 2


def is_vague(question: str) -> bool:
    """At most one specific word and no name: "Which was the most recent?", "What is the capital?"."""
    specific = _specific_words(question)
    return len(specific) <= 1 and not any(_NAME.fullmatch(w) for w in specific)


def _has_back_reference(low: list[str]) -> bool:
    """"else", "others", "so" at the end ("who said so?"), or a demonstrative after a verb, preposition or
    question word ("what did that suggest?", "who is that country's president?")."""
    if "else" in low or "others" in low or low[-1] == "so":
        return True
    return any(w in DEMONSTRATIVES and (i == 0 or low[i - 1] in WH | AUX | PREPOSITIONS | {"said"} or i == len(low) - 1)
               for i, w in enumerate(low))


def _outside_pronouns(question: str) -> list[int]:
    """Indices (into words()) of pronouns that refer outside the question. He, she, they and their
    possessives after a name in the same question are taken to mean that name ("what did Biden say he
    would do?"); it and its after a lower-case "the ..." phrase mean that phrase ("which edition of the
    summit is it?"); object pronouns (him, them) never refer to their own clause's subject; "there" in
    "is there" or "there are" is not a place."""
    ws = words(question)
    low = [w.lower() for w in ws]
    named_before = the_phrase_before = False
    found = []
    for i, w in enumerate(low):
        if w in PLACE:
            existential = (i > 0 and low[i - 1] in AUX) or (i + 1 < len(low) and low[i + 1] in AUX)
            if not existential:
                found.append(i)
        elif w in OBJECT or (w in PERSON | GROUP and not named_before) or (w in THING and not the_phrase_before):
            found.append(i)
        if i > 0 and _NAME.fullmatch(ws[i]) and w not in FUNCTION:
            named_before = True
        if i > 0 and low[i - 1] == "the" and ws[i].islower() and w not in FUNCTION:
            the_phrase_before = True
    return found


def rewrite(question: str, turns: list[Turn]) -> str:
    """A standalone version of a follow-up question, given the earlier turns (most recent last)."""
    text = " ".join(question.split())
    lead = CONTRAST.match(text) or LEAD.match(text)
    if lead and _lower(text[lead.end():]):
        text = text[lead.end():]
    low = _lower(text)
    if low and _is_fragment(text) and low[0] not in WH | PREPOSITIONS | {"to"} and low[-1] not in WH:
        return _contrast(text.strip(" ?,"), turns[-1])  # "What about Venezuela?", "And the US?"
    replaced = _replace_pronouns(text, turns)
    if _is_fragment(replaced) and not _whole(replaced, replaced != text):
        return _complete_fragment(replaced, turns[-1])
    return replaced


def _whole(question: str, pronoun_replaced: bool) -> bool:
    """Whether a short question stands alone: it has a verb of its own and says what it is about, by a
    replaced pronoun or a second specific word ("Who saved him?", "Who scored the first?"; not "Who won?")."""
    return (_has_verb(question) and not _has_back_reference(_lower(question))
            and (pronoun_replaced or len(_specific_words(question)) >= 2))


def _replace_pronouns(text: str, turns: list[Turn]) -> str:
    matches = list(_WORD.finditer(text))
    ws = [m.group() for m in matches]
    out = text
    for i in reversed(_outside_pronouns(text)):  # from the end, so earlier offsets stay valid
        w = ws[i].lower()
        kind = "person" if w in PERSON else "thing" if w in THING else "group" if w in GROUP else "place"
        referent = _referent(kind, turns, object_=w in OBJECT)
        if referent is None:
            continue
        if w in POSSESSIVE or (w == "her" and i + 1 < len(ws) and ws[i + 1].lower() not in FUNCTION):
            referent = referent + ("'" if referent.endswith("s") else "'s")
        elif kind == "place":
            referent = referent if referent.split()[0].lower() in PREPOSITIONS else f"in {referent}"
        out = out[: matches[i].start()] + referent + out[matches[i].end():]
    return out


def _referent(kind: str, turns: list[Turn], object_: bool = False) -> str | None:
    """The most likely referent of a pronoun of this kind, from the latest turn that has one."""
    for turn in reversed(turns):
        found = _referent_in(kind, turn, object_)
        if found:
            return found
    return None


def _referent_in(kind: str, turn: Turn, object_: bool) -> str | None:
    low = _lower(turn.question)
    wh = low[0] if low and low[0] in WH else (low[1] if len(low) > 1 and low[1] in WH else "")
    answer = (turn.answer or "").strip()
    answer_named = _is_name(answer)
    names = mentions(turn.question)
    people = [n for n in names if _is_person(n, turn.evidence)]
    if kind == "person":
        if answer_named and (wh in {"who", "whom"} or _is_person(answer, turn.evidence)):
            return answer
        # with no text to check names against (a history of plain questions), any name may be a person's
        return people[0] if people else (names[0] if names and not turn.evidence else None)
    if kind == "group":
        if answer_named and (" and " in answer or "," in answer):  # "Devan Cole and Allie Malloy"
            return answer
        if len(people) >= 2:
            return " and ".join(people[:2])
        if people and answer_named and answer not in people and (wh in {"who", "whom"} or _is_person(answer, turn.evidence)):
            return f"{people[0]} and {answer}"  # "Who did Duque meet?" "Biden" -> they: "Duque and Biden"
        if object_ and answer and _plural_phrase(answer) and not any(c.isdigit() for c in answer):
            return answer  # "them" after "What are they not entitled to?" -> "security guarantees"
        return _plural_phrase(turn.question)
    if kind == "place":
        if answer and wh == "where":
            return answer
        places = _place_phrases(turn.question)
        return places[0] if places else None
    # a thing: the answer to "which/what ... ?" when it is a name, else a name in the question that is
    # not a person's, else the question's noun phrase
    if answer_named and wh in {"which", "what", "who"} and not _is_person(answer, turn.evidence):
        return answer
    things = [n for n in names if n not in people]
    return things[0] if things else _subject_phrase(turn.question)


def _is_name(text: str) -> bool:
    """A name and nothing else: "Iván Duque", "the Summit of the Americas", "Devan Cole and Allie Malloy"."""
    ws = words(text)
    return bool(ws) and len(ws) <= 8 and bool(_NAME.fullmatch(ws[0]) or ws[0].lower() == "the") and all(
        _NAME.fullmatch(re.sub(r"[’']s$", "", w.rstrip(","))) or w.lower() in {"of", "the", "and", "de"} for w in ws)


def mentions(text: str) -> list[str]:
    """Names in a text: runs of capitalised words (joined by "of", "of the", "de"; with "the" before
    them), the first word of the text excluded unless it is a name itself; possessive endings dropped."""
    ws = words(text)
    out, run = [], []
    for i, w in enumerate(ws):
        bare = re.sub(r"[’']s$", "", w)
        is_name = bool(_NAME.fullmatch(bare)) and bare.lower() not in FUNCTION and not (i == 0 and bare.lower() in WH)
        if is_name:
            if not run and i > 0 and ws[i - 1].lower() == "the":
                run.append(ws[i - 1])  # "the Summit of the Americas", "the US"
            run.append(bare)
            if bare != w:  # "Colombia's": the possessive ends the name
                out.append(" ".join(run))
                run = []
        elif run and w.lower() in {"of", "the", "de"} and i + 1 < len(ws) and (
                _NAME.fullmatch(ws[i + 1]) or ws[i + 1].lower() == "the"):
            run.append(w)
        else:
            if run:
                out.append(" ".join(run))
            run = []
    if run:
        out.append(" ".join(run))
    return [m for m in dict.fromkeys(out) if m.lower() not in FUNCTION]


def _is_person(name: str, evidence: str) -> bool:
    """Whether the evidence text uses this name as a person's: after a title, or next to "said"."""
    if not evidence or not name:
        return False
    n = re.escape(name.split()[-1])
    return bool(re.search(rf"{_TITLES}\s+(?:[A-Z][\w’'.-]*\s+)*{n}\b|\b{n},?\s+{_SAID}\b|\b{_SAID}\s+(?:[A-Z]\w+\s+)*{n}\b",
                          evidence))


def _place_phrases(question: str) -> list[str]:
    """Names after "in", "at", "to" or "from": "at the Summit of the Americas"."""
    out = []
    for name in mentions(question):
        m = re.search(rf"\b(in|at|to|from)\s+{re.escape(name)}", question)
        if m:
            out.append(f"{m.group(1)} {name}")
    return out


def _subject_phrase(question: str) -> str | None:
    """The noun phrase after "the"/"a" in a question ("When will the summit be held?" -> "the summit")."""
    m = re.search(r"\b(the|a|an)\s+((?:[\w-]+\s+){0,3}?[\w-]+)(?=\s+(?:be|is|are|was|were|will|do|does|did|has|"
                  r"have|of|in|to|for|on|at|by|with)\b|\s*\?|$)", question, flags=re.IGNORECASE)
    return f"{m.group(1).lower()} {m.group(2)}" if m else None


def _plural_phrase(question: str) -> str | None:
    """The first plural noun phrase: "What do major non-NATO allies receive?" -> "major non-NATO allies"."""
    ws = words(question)
    start = 0
    for i, w in enumerate(ws):
        lw = w.lower()
        if lw in FUNCTION:
            start = i + 1
            continue
        if len(lw) > 3 and lw.endswith("s") and not lw.endswith(("ss", "us", "is")) and i - start < 4:
            return " ".join(ws[start: i + 1])
    return None


def _auxiliary(low: list[str]) -> int | None:
    """Where a question's auxiliary verb is among its first 6 (lower-cased) words: "how much aid | has"."""
    return next((i for i, w in enumerate(low[:6]) if w in AUX), None)


def _statement(turn: Turn) -> str:
    """The previous turn as a clause: its question without the question phrase ("how much aid has",
    "in which room did"), with the answer put in: "the US given Colombia more than $10 billion"."""
    ws = words(turn.question)
    low = [w.lower() for w in ws]
    aux = _auxiliary(low)
    if aux is not None and aux > 0 and low[aux] not in {"is", "are", "was", "were"}:
        rest, answer_first = ws[aux + 1:], False  # "how much aid has | the US given it"
    else:
        start = 1 if low and low[0] in WH else 0
        rest, answer_first = ws[start:], True  # "who | announced that ...", "who | is the president of ..."
    parts = " ".join(rest)
    if not turn.answer:
        return parts
    return (f"{turn.answer} {parts}" if answer_first else f"{parts} {turn.answer}").strip()


def _has_verb(question: str) -> bool:
    """A guess that the word after the question word is a verb: a form from _VERB_FORMS, or a word of 5+
    letters ending in "-ed" ("Who saved him?", "What happened over summer?") that, after "what" or
    "which", is not an adjective before a noun ("Which armed group?")."""
    low = _lower(question)
    if len(low) < 2 or low[0] not in WH:
        return False
    w = low[1]
    if w in _VERB_FORMS:
        return True
    if len(w) < 5 or not w.endswith("ed") or w.endswith("eed"):  # "speed", "need"
        return False
    return low[0] not in {"what", "which"} or len(low) == 2 or low[2] in FUNCTION


_VERB_FORMS = {"came", "beat", "won", "said", "went", "got", "made", "took", "gave", "told", "found", "left",
               "saw", "ran", "lost", "led", "wrote", "bought", "sold", "broke", "hit", "shot", "held", "knew",
               "became", "began", "brought", "caught", "drove", "fell", "felt", "flew", "grew", "heard", "kept",
               "met", "paid", "sent", "spoke", "stole", "threw", "wore", "says", "wins", "leads", "owns", "runs"}
_INDEFINITE = {"anyone", "anybody", "someone", "somebody", "anything", "something"}
_SUBJECT_WH = {"who", "what", "which"}


def _complete_leading(frag: str, last: Turn) -> str | None:
    """A fragment that starts with its question word, or a preposition and its question word ("When?",
    "Of what crime?"), put in front of the previous question's clause, its auxiliary kept: "Since when
    has the US given Colombia more than $10 billion?"; None when the previous question has no auxiliary."""
    ws = words(last.question)
    low = [w.lower() for w in ws]
    flow = _lower(frag)
    aux = _auxiliary(low)
    if aux is None:
        return None
    if aux == 0:  # a yes/no question: its answer is no span to put back
        rest = ws[1:]
        if len(flow) == 1 and flow[0] in {"who", "what"}:  # "Was anyone else hurt?" "Who?" -> "Who else was hurt?"
            lower = [w.lower() for w in rest]
            at = next((i for i, w in enumerate(lower) if w in _INDEFINITE), None)
            if at is not None:
                if at + 1 < len(rest) and lower[at + 1] == "else":
                    frag, rest = f"{frag} else", rest[:at] + rest[at + 2:]
                else:
                    rest = rest[:at] + rest[at + 1:]
        return " ".join([frag, low[0], *rest]) + "?"
    rest = ws[aux + 1:]
    # "What team?" after "Which sport is he going to coach?" asks for a new noun: the answer stays out
    new_noun = flow[0] in WH and len(flow) > 1 and flow[-1] not in WH and aux > 1
    answer = [] if not last.answer or new_noun else [last.answer.strip()]
    if (aux == 1 and low[0] in _SUBJECT_WH and answer and rest and rest[0].islower()
            and rest[0].lower() not in FUNCTION and low[aux] not in {"do", "does", "did"}):
        # the answer was the subject of a verb: "Who was arrested?" "John Smith" "Why?" -> "Why was John
        # Smith arrested?" (but "Who was Biden meeting?" and "Who is the president?" keep it at the end)
        return " ".join([frag, low[aux], *answer, *rest]) + "?"
    return " ".join([frag, low[aux], *rest, *answer]) + "?"


def _complete_fragment(fragment: str, last: Turn) -> str:
    """Complete "Since when?" / "The lynchpin to what?" with the previous turn."""
    frag = fragment.strip(" ?")
    low = _lower(frag)
    leading_wh = bool(low) and (low[0] in WH or (low[0] in PREPOSITIONS and len(low) > 1 and low[1] in WH))
    if leading_wh:
        done = _complete_leading(frag, last)
        if done:
            return done
    statement = _statement(last)
    if low and low[-1] in WH and not leading_wh:  # "of what", "the lynchpin to what"
        answer_words = _lower(last.answer or "")
        if answer_words and low[: len(answer_words)] == answer_words[: len(low)]:
            frag = " ".join(words(frag)[len(answer_words):])  # "The lynchpin to what" repeats the answer
        return f"{statement} {frag}?"
    return f"{frag} {statement}?"


def _contrast(phrase: str, last: Turn) -> str:
    """"What about Venezuela?" after "Who is the president of Colombia?": put the new phrase in place of
    the last name of the previous question, or of the noun after its question word."""
    names = mentions(last.question)
    if names and _NAME.match(phrase.split()[-1]):
        target = names[-1]
        return last.question.replace(target, phrase, 1) if target in last.question else f"{last.question} {phrase}"
    m = re.match(r"(?i)(how much|how many|what|which)\s+([a-z][\w-]*(?:\s+[a-z][\w-]*)?)\s+(?=(?:%s)\b)"
                 % "|".join(AUX), last.question)
    if m:
        return f"{m.group(1)} {phrase} {last.question[m.end():]}"
    return f"{last.question.rstrip('?')} – {phrase}?"
