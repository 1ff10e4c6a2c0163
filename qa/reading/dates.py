"""Relative dates in an answer resolved against its article's published day: "Thursday" in a story
published on Thursday 10 March 2022 is 2022-03-10, in one published the next day 2022-03-10 too (news
names the last such day); "yesterday", "today", "tomorrow", "last week", "next month", "this June",
"March 10" (no year) likewise. The result is ISO 8601: a day, or a range "start/end" when the words name
one."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = {name: i for i, name in enumerate(calendar.month_name) if name} | \
         {name[:3]: i for i, name in enumerate(calendar.month_name) if name} | {"sept": 9}
MONTHS = {k.lower(): v for k, v in MONTHS.items()}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY_OF_MONTH = re.compile(rf"\b(?P<mon>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?!,?\s*\d{{4}})"
                           rf"|\b(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon2>{_MONTH})\b(?!,?\s*\d{{4}})", re.I)
# A month without a day only by its full name: "Jan Egeland" and "Mar-a-Lago" are no months.
_FULL_MONTH = "|".join(name.lower() for name in calendar.month_name if name)
_MONTH_ALONE = re.compile(rf"\b(?P<which>this|last|next|in|on|early|late|mid-?)?\s*(?P<mon>{_FULL_MONTH})\b(?![-.]?\s*\d)(?!-)",
                          re.I)
_WEEKDAY = re.compile(rf"\b(?P<which>last|next|this|on|by|until|since)?\s*(?P<day>{'|'.join(WEEKDAYS)})\b", re.I)
_RELATIVE = re.compile(r"\b(?P<word>yesterday|today|tonight|tomorrow|this morning|this afternoon|this evening|"
                       r"(?P<which>last|next|this) (?P<unit>week|month|year))\b", re.I)
_HAS_YEAR = re.compile(r"\b(19|20)\d\d\b")
# The sentence speaks of what is to come: a bare "Friday" or "June" in it lies ahead, not behind.
_FUTURE = re.compile(r"\b(will|shall|plans? to|planning to|is to|are to|is due|are due|expected to|scheduled|"
                     r"upcoming|to be held|set to|going to|ahead of|must)\b", re.I)


def resolve_date(text: str, published: str | None, context: str = "") -> str | None:
    """The day (or "start/end" range) that a relative date in `text` names, read from the article's
    published day `published` (ISO 8601); `context`, the sentence around it, says whether a bare weekday or
    month lies ahead (future tense) or behind. None when there is none, or nothing to read it from."""
    if not text or not published or _HAS_YEAR.search(text):
        return None
    try:
        base = date.fromisoformat(published[:10])
    except ValueError:
        return None
    # Future tense before the date itself: "will travel on Friday", not "approved on Tuesday, which will ..."
    before = context[: context.find(text)] if context and text in context else (context or text)
    ahead = bool(_FUTURE.search(before))
    for resolve in (_relative, _weekday, _day_of_month, _month):
        found = resolve(text, base, ahead)
        if found:
            return found
    return None


def relative_words(text: str) -> str | None:
    """The first weekday or relative day ("yesterday", "last week") written in `text`, or None."""
    m = _WEEKDAY.search(text) or _RELATIVE.search(text)
    return m.group(0).strip() if m else None


def _relative(text: str, base: date, ahead: bool) -> str | None:
    m = _RELATIVE.search(text)
    if not m:
        return None
    word = m.group("word").lower()
    if word == "yesterday":
        return (base - timedelta(days=1)).isoformat()
    if word == "tomorrow":
        return (base + timedelta(days=1)).isoformat()
    if word in ("today", "tonight") or word.startswith("this ") and m.group("unit") is None:
        return base.isoformat()
    step = {"last": -1, "next": 1, "this": 0}[m.group("which").lower()]
    unit = m.group("unit").lower()
    if unit == "week":
        monday = base - timedelta(days=base.weekday()) + timedelta(weeks=step)
        return f"{monday.isoformat()}/{(monday + timedelta(days=6)).isoformat()}"
    if unit == "month":
        month = base.month - 1 + step
        return _month_range(base.year + month // 12, month % 12 + 1)
    year = base.year + step
    return f"{year}-01-01/{year}-12-31"


def _weekday(text: str, base: date, ahead: bool) -> str | None:
    m = _WEEKDAY.search(text)
    if not m:
        return None
    target = WEEKDAYS.index(m.group("day").lower())
    which = (m.group("which") or "").lower()
    if which == "next" or (ahead and which != "last"):
        if ahead and which != "next" and target == base.weekday():
            return base.isoformat()
        ahead = (target - base.weekday()) % 7 or 7
        return (base + timedelta(days=ahead)).isoformat()
    back = (base.weekday() - target) % 7
    if which == "last" and back == 0:
        back = 7
    return (base - timedelta(days=back)).isoformat()


def _day_of_month(text: str, base: date, ahead: bool) -> str | None:
    m = _DAY_OF_MONTH.search(text)
    if not m:
        return None
    month = MONTHS[(m.group("mon") or m.group("mon2")).lower()]
    day = int(m.group("d") or m.group("d2"))
    year = base.year
    if ahead and (month, day) < (base.month, base.day):
        year += 1  # "will meet on January 5" in a December story
    elif not ahead and month > base.month + 6:
        year -= 1  # "December 20" in a story of January
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _month(text: str, base: date, ahead: bool) -> str | None:
    m = _MONTH_ALONE.search(text)
    if not m or m.group("mon").lower() == "may" and not m.group("which"):  # "may" is mostly a verb
        return None
    month = MONTHS[m.group("mon").lower()]
    which = (m.group("which") or "").lower()
    year = base.year
    if which == "last":
        year -= month >= base.month
    elif which == "next" or ahead:
        year += month < base.month or (which == "next" and month == base.month)
    elif month > base.month + 6:
        year -= 1  # "in November" in a March story, said of the past
    return _month_range(year, month)


def _month_range(year: int, month: int) -> str:
    last = calendar.monthrange(year, month)[1]
    return f"{year:04d}-{month:02d}-01/{year:04d}-{month:02d}-{last:02d}"


def shown(resolved: str) -> str:
    """"10 March 2022", or "1 June 2022 – 30 June 2022" for a range."""
    days = [date.fromisoformat(d) for d in resolved.split("/")]
    text = [f"{d.day} {calendar.month_name[d.month]} {d.year}" for d in days]
    return " – ".join(text)
