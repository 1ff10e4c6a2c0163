"""Relative dates on real dated pages, for judging by hand: the first relative date (a weekday, "today",
"last week", ...) of each English page of ../shared/data/pages/ that declares a published date, with the
day qa.reading.dates resolves it to and the sentence it stands in.

    python bench/dates.py [--pages ../shared/data/pages]

Judged 2026-12-03 (docs/news.md): 29 of 32 relative dates right with the first rules, 31 of 32 now."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.ingest.pages import read_page  # noqa: E402
from qa.reading.dates import relative_words, resolve_date  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", default=str(ROOT.parent / "shared/data/pages"))
    args = ap.parse_args()
    print("| page | published | words | resolved | sentence |\n|---|---|---|---|---|")
    for path in sorted(Path(args.pages).glob("*.html")):
        page = read_page(path.read_bytes())
        if not page.date or (page.language or "en")[:2] != "en":
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", page.text):
            words = relative_words(sentence)
            if words and len(sentence) < 300:
                print(f"| {path.stem} | {page.date} | {words} | {resolve_date(words, page.date, sentence)} | "
                      f"{' '.join(sentence.split())[:160]} |")
                break


if __name__ == "__main__":
    main()
