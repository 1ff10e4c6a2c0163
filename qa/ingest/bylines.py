"""Metadata written in an article's own words: a byline ("By Jane Doe and John Roe", or a name alone beside
a date line as blogs print it), a date line ("Published March 10, 2022", "Updated 5:31 PM ET, Thu March 10,
2022", "2 min read Mar 16, 2022"), a dateline ("WASHINGTON (Reuters) -", "Washington CNN —") near the
top, and the credits at the end ("CNN's Devan Cole contributed to this report", "(Reporting by Jane Doe;
Editing by John Roe)").

Reading them never changes the text: every character offset stays where the file has it. The rules look
only where such lines stand (the first lines, the last paragraphs) and only at short lines, so a date or a
name inside the story is not taken for its metadata."""

from __future__ import annotations

import re

# The version of these rules: an index built with another reads its text and JSON files again.
TEXT_READER = "bylines-1"
TOP_LINES = 12  # non-blank lines from the top in which a byline, date line or dateline is looked for
END_PARAGRAPHS = 6  # paragraphs from the end in which credits are looked for
SHORT = 100  # a byline or date line is a short line of its own

_MONTHS = {m: i for i, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
    ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
    ("nov", "november"), ("dec", "december")), 1) for m in names}
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATES = (
    re.compile(_MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>(?:19|20)\d\d)\b", re.I),
    re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\.?\s+" + _MONTH + r",?\s+(?P<y>(?:19|20)\d\d)\b", re.I),
    re.compile(r"\b(?P<y>(?:19|20)\d\d)-(?P<m>[01]\d)-(?P<d>[0-3]\d)\b"),
)
_UPDATED = re.compile(r"^\s*(?:last\s+)?(?:updated|modified|edited)\b", re.I)
_DATE_LINE = re.compile(r"^\s*(?:published|posted|updated|modified|first published|last updated|date|on)\b"
                        r"|\bmin(?:ute)?s?\s*read\b", re.I)

# A person's name: 1-4 capitalised words, with the particles of names between ("Juan de la Cruz").
_WORD = r"[A-ZÀ-Þ][\w'’.\-]*"
_NAME = rf"{_WORD}(?:\s+(?:(?:de|da|di|del|der|van|von|la|le|bin|al|ibn|dos|du)\s+)*{_WORD}){{0,3}}"
_NAMES = rf"(?P<names>{_NAME}(?:\s*(?:,|\band\b|&)\s*{_NAME})*)"
_BYLINE = re.compile(rf"^\s*(?i:by|written by|words by|story by|reporting by)[:\s]+{_NAMES}"
                     r"(?:\s*(?:,|\||/|—|–|-|\bfor\b)\s*(?P<org>[^.!?]{1,40}?))?\s*$")
_NAME_ALONE = re.compile(rf"^\s*{_NAMES}\s*(?:[/|·•]\s*(?P<rest>.*))?$")
_CREDITS = (
    re.compile(rf"(?:\b(?P<org>[A-Z][\w&]*(?:\s[A-Z][\w&]*)?)['’]s\s+)?{_NAMES}\s+contributed\s+(?:reporting\s+)?"
               r"(?:to|for)\s+this\s+(?:report|story|article)"),
    re.compile(rf"\(\s*(?i:additional\s+)?(?i:reporting\s+by)\s+{_NAMES}"),
)
_AGENCIES = "CNN|AP|AFP|Reuters|Bloomberg|UPI|dpa|ANSA|EFE|Xinhua|PTI|IANS|BBC|NPR"
_DATELINE = re.compile(
    r"^\s*(?P<place>[A-ZÀ-Þ][\w.'’]*(?:[ \-][A-ZÀ-Þ][\w.'’]*){0,3}?)"
    r"(?:,\s*(?:[A-Z][a-z]{2,8}\.?\s+\d{1,2}|[A-Z][\w.]*(?:\s[A-Z][\w.]*)?))?"  # a day, or a state or country
    rf"\s*(?:\((?P<org>[A-Za-z][\w .&-]{{0,24}})\)|(?P<agency>{_AGENCIES}))?\s*(?:—|–|--|-)(?:\s|$)")
# An outlet alone opening the story: "(CNN) -- A man...", "(CNN)The suspect...", "(EW.com) --".
_OUTLET_OPENING = re.compile(r"^\s*\((?P<org>[A-Z][\w.&-]*(?: [A-Z][\w.&-]*){0,2})\)\s*(?:—|–|--|-\s|(?=[A-Z\"“]))")
# Words that start a sentence, not a place: "Meanwhile -", "But -".
_NOT_PLACES = {"meanwhile", "but", "and", "so", "now", "still", "yet", "also", "update", "editor's note",
               "photo", "photos", "video", "watch", "listen", "related", "advertisement", "sponsored", "ad",
               "anzeige", "werbung", "exclusive", "exklusiv", "breaking", "analysis", "opinion", "live",
               "review", "interview", "podcast", "note", "correction"}
DATELINE_LINES = 5  # a dateline opens the story: it is looked for in the first lines after the headline


def text_metadata(text: str) -> dict[str, str]:
    """The author, date, updated, dateline (the place) and site an article's own lines give, by field
    name; a field the text does not give is left out."""
    lines = [line.strip() for line in text.splitlines() if line.strip()][:TOP_LINES]
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        if len(line) > SHORT:
            continue
        _date_line(line, found)
        if "author" not in found:
            _byline(line, lines[i - 1] if i else "", lines[i + 1] if i + 1 < len(lines) else "", i, found)
    _dateline(lines, found)
    if "author" not in found:
        _credits(text, found)
    return found


def _date_line(line: str, found: dict[str, str]) -> None:
    if not (_DATE_LINE.search(line) or _is_mostly_date(line)):
        return
    day = find_day(line)
    if day is None:
        return
    key = "updated" if _UPDATED.match(line) else "date"
    found.setdefault(key, day)


def _is_mostly_date(line: str) -> bool:
    for pattern in _DATES:
        m = pattern.search(line)
        if m and len(m.group(0)) >= 0.4 * len(line.strip(" |·•-—/")):
            return True
    return False


def find_day(line: str) -> str | None:
    """The first calendar day written in `line` ("Mar 16, 2022", "16 March 2022", "2022-03-16"), ISO 8601."""
    found = day_at(line)
    return found[0] if found else None


def day_at(line: str) -> tuple[str, int, int] | None:
    """(ISO day, start, end) of the first calendar day written in `line`, or None."""
    best = None
    for pattern in _DATES:
        m = pattern.search(line)
        if m and (best is None or m.start() < best.start()):
            best = m
    if best is None:
        return None
    parts = best.groupdict()
    month = int(parts["m"]) if parts.get("m") else _MONTHS[parts["mon"].lower()]
    day, year = int(parts["d"]), int(parts["y"])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}", best.start(), best.end()


def _byline(line: str, before: str, after: str, i: int, found: dict[str, str]) -> None:
    m = _BYLINE.match(line)
    if m and not _looks_like_sentence(m.group("names")):
        names, org = _people(m.group("names"))
        org = org or (m.group("org") or "").strip()
        if names:
            found["author"] = names
        if org and len(org) <= 40 and not find_day(org):
            found.setdefault("site", org)
        return
    m = _NAME_ALONE.match(line)
    if not m or i == 0 or len(m.group("names").split()) < 2:  # the first line is the headline
        return
    rest = m.group("rest") or ""
    beside_a_date = any(_DATE_LINE.search(s) or _is_mostly_date(s) for s in (rest, after, before) if s)
    names, _ = _people(m.group("names"))
    if beside_a_date and names and not _looks_like_sentence(names):
        found["author"] = names


def _looks_like_sentence(names: str) -> bool:
    """A headline fragment ("Biden Meets Duque") rather than names: a month or weekday among the words."""
    words = {w.lower().strip(".,") for w in names.split()}
    return bool(words & (set(_MONTHS) | {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                         "sunday", "updated", "published", "posted", "min", "read"}))


def _dateline(lines: list[str], found: dict[str, str]) -> None:
    for line in lines[1:DATELINE_LINES + 1]:
        opening = _OUTLET_OPENING.match(line)
        if opening:
            found.setdefault("site", opening.group("org"))
            return
        m = _DATELINE.match(line)
        if not m:
            continue
        place = m.group("place").strip()
        org = m.group("org") or m.group("agency")
        if place.lower() in _NOT_PLACES or not (org or (place.isupper() and len(place) >= 3)):
            continue
        found["dateline"] = place.title() if place.isupper() else place
        if org:
            found.setdefault("site", org.strip())
        return


def _credits(text: str, found: dict[str, str]) -> None:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n|\n", text) if p.strip()][-END_PARAGRAPHS:]
    for paragraph in reversed(paragraphs):
        for pattern in _CREDITS:
            m = pattern.search(paragraph)
            if m:
                names, org = _people(m.group("names"))
                if names:
                    found["author"] = names
                org = m.groupdict().get("org") or org
                if org:
                    found.setdefault("site", org)
                return


def _people(names: str) -> tuple[str, str | None]:
    """("Jane Doe, John Roe", None) of "Jane Doe and John Roe"; a one-word part is an outlet, not a
    person ("By Jane Doe, CNN" -> ("Jane Doe", "CNN")); names in capitals are written as names."""
    people, org = [], None
    for part in re.split(r"\s*(?:,|\band\b|&)\s*", names):
        part = " ".join(part.split())
        if not part:
            continue
        if " " not in part:
            org = org or part
            continue
        people.append(part.title() if part.isupper() else part)
    return ", ".join(people), org
