"""Relative dates in answers read from the article's published day, the way news writes them."""

from __future__ import annotations

import pytest

from qa.reading.dates import resolve_date, shown

THURSDAY = "2022-03-10"  # the CNN seed story's day


@pytest.mark.parametrize("text, context, expected", [
    ("Thursday", "Biden announced during a meeting on Thursday that", "2022-03-10"),  # the day itself
    ("on Monday", "The talks began on Monday.", "2022-03-07"),  # the last Monday
    ("Friday", "Biden will travel to Texas on Friday.", "2022-03-11"),  # future tense: the next one
    ("on Tuesday", "Voters approved an amendment on Tuesday that will grant billions.", "2022-03-08"),  # the
    # future tense after the date is another clause's
    ("Tuesday", "The stakes are high ahead of Tuesday's debate.", "2022-03-15"),
    ("last Thursday", "", "2022-03-03"),
    ("next Monday", "", "2022-03-14"),
    ("yesterday", "", "2022-03-09"),
    ("tomorrow", "", "2022-03-11"),
    ("last week", "", "2022-02-28/2022-03-06"),
    ("next month", "", "2022-04-01/2022-04-30"),
    ("June", "Biden plans to attend the Summit of the Americas in June", "2022-06-01/2022-06-30"),
    ("last June", "", "2021-06-01/2021-06-30"),
    ("March 8", "", "2022-03-08"),
    ("December 20", "The strike began on December 20.", "2021-12-20"),
    ("January 5", "The two will meet again on January 5.", "2023-01-05"),
    ("March 10, 2022", "", None),  # a full date needs no resolving
    ("$10 billion", "", None),
    ("may", "officials may decide", None),  # the verb, not the month
])
def test_relative_dates_are_read_from_the_published_day(text, context, expected):
    assert resolve_date(text, THURSDAY, context) == expected


def test_nothing_is_resolved_without_a_published_day():
    assert resolve_date("Thursday", None) is None and resolve_date("Thursday", "not a date") is None


def test_resolved_dates_are_shown_as_people_write_them():
    assert shown("2022-03-10") == "10 March 2022"
    assert shown("2022-06-01/2022-06-30") == "1 June 2022 – 30 June 2022"
