"""Main text and metadata of saved web pages: qa's page reader against trafilatura's defaults and the old
hand-written reader, on the same pages, side by side in one run.

    python bench/extraction.py [--pages ../shared/data/pages] [--gold DIR] [--limit N]

Two scores of the main text:
- on pages with expected snippets (../shared/data/pages/expected.json: `with` snippets that must be in the
  main text, `without` snippets that must not): precision, recall and F1 over the snippets, and accuracy,
  as trafilatura's own evaluation counts them;
- with `--gold DIR` (DIR/<id>.txt: the page's whole main text), the benchmark metric: tokens `\\w+`, 4-gram
  shingles as multisets, precision and recall per page, averaged over pages, F1 of the two averages.
Metadata: the share of the pages that declare a title, author or date where the reader finds it (title:
same words, or loosely one holding the other; author: one of the expected names; date: the same day).
And pages per second. readability-lxml (and qa with it where qa's text is short) is compared when installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_TOKEN = re.compile(r"\w+", re.UNICODE)


def shingles(text: str, n: int = 4) -> Counter:
    """Token n-grams of a text, as a multiset."""
    tokens = _TOKEN.findall(text.lower())
    return Counter(tuple(tokens[i : i + n]) for i in range(max(0, len(tokens) - n + 1)))


def shingle_scores(extracted: str, gold: str) -> tuple[float, float]:
    """(precision, recall) of one page: the shared 4-gram multiset over the extracted's and the gold's."""
    got, want = shingles(extracted), shingles(gold)
    common = sum((got & want).values())
    precision = common / sum(got.values()) if got else float(not want)
    recall = common / sum(want.values()) if want else 1.0
    return precision, recall


def benchmark_f1(pairs: list[tuple[str, str]]) -> tuple[float, float, float]:
    """Per-page precision and recall averaged over pages, and the F1 of the two averages."""
    scores = [shingle_scores(e, g) for e, g in pairs]
    p = sum(s[0] for s in scores) / len(scores)
    r = sum(s[1] for s in scores) / len(scores)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").lower().split())


def snippet_counts(extracted: str, expected: dict) -> tuple[int, int, int, int]:
    """(true positives, false negatives, false positives, true negatives) of one page's snippets."""
    text = _norm(extracted)
    found = [_norm(s) in text for s in expected.get("with", [])]
    leaked = [_norm(s) in text for s in expected.get("without", [])]
    return sum(found), len(found) - sum(found), sum(leaked), len(leaked) - sum(leaked)


def old_reader(html: bytes, url: str) -> dict:
    from qa.errors import ArticleError
    from qa.ingest.files import decode, extract_html

    try:
        title, text = extract_html(decode(html))
    except ArticleError:  # a charset it cannot read: the page was refused
        return {"text": "", "title": None}
    return {"text": text, "title": title}


def trafilatura_defaults(html: bytes, url: str) -> dict:
    import trafilatura

    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    return {"text": doc.text if doc else "", "title": doc.title if doc else None,
            "author": doc.author if doc else None, "date": doc.date if doc else None}


def qa_reader(html: bytes, url: str) -> dict:
    from qa import read_articles  # noqa: F401  (the product's path: parse_file -> read_page)
    from qa.ingest.files import parse_file

    try:
        [page] = parse_file(Path("page.html"), html)
    except Exception:  # noqa: BLE001 - a page the product refuses scores as an empty text
        return {"text": "", "title": None}
    return {"text": page.text, "title": page.title, "author": page.author, "date": page.date}


def readability_lxml(html: bytes, url: str) -> dict:
    """readability-lxml (the port of Mozilla's Readability), when installed: a peer to compare with."""
    import lxml.html
    from readability import Document

    try:
        doc = Document(html)
        return {"text": lxml.html.fromstring(doc.summary()).text_content(), "title": doc.short_title()}
    except Exception:  # noqa: BLE001 - a page it cannot read scores as an empty text
        return {"text": "", "title": None}


def qa_or_readability(html: bytes, url: str) -> dict:
    """qa's reading, with readability-lxml's text where qa's is under half as long (where trafilatura's
    recall might have dropped): the combination the issue asked to try."""
    ours, theirs = qa_reader(html, url), readability_lxml(html, url)
    if len(_TOKEN.findall(ours["text"] or "")) < 0.5 * len(_TOKEN.findall(theirs["text"] or "")):
        return {**ours, "text": theirs["text"]}
    return ours


READERS: dict[str, Callable[[bytes, str], dict]] = {
    "old hand-written reader": old_reader, "trafilatura 2.3 defaults": trafilatura_defaults, "qa": qa_reader}
try:
    import readability  # noqa: F401  (pip install readability-lxml: not a dependency of qa)

    READERS.update({"readability-lxml": readability_lxml, "qa, readability-lxml where qa's text is short": qa_or_readability})
except ImportError:
    pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", default=str(ROOT.parent / "shared/data/pages"))
    ap.add_argument("--gold", help="folder of <id>.txt gold main texts: the benchmark's shingle F1")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    folder = Path(args.pages)
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    ids = sorted(expected)[: args.limit or None]
    pages = {i: (folder / f"{i}.html").read_bytes() for i in ids}
    print(f"{len(ids)} pages from {folder}")
    print("| reader | snippets P / R / F1 | accuracy | shingle P / R / F1 (gold) | title (exact / loose) / author / date found | pages/s |")
    print("|---|---|---|---|---|---|")
    for name, read in READERS.items():
        tp = fn = fp = tn = 0
        meta = {"title": [0, 0], "title (loose)": [0, 0], "author": [0, 0], "date": [0, 0]}
        gold_pairs = []
        t0 = time.perf_counter()
        results = {i: read(pages[i], expected[i]["url"]) for i in ids}
        seconds = time.perf_counter() - t0
        for i in ids:
            got, want = results[i], expected[i]
            a, b, c, d = snippet_counts(got["text"] or "", want)
            tp, fn, fp, tn = tp + a, fn + b, fp + c, tn + d
            if want.get("title"):
                meta["title"][1] += 1
                meta["title"][0] += _norm(got.get("title") or "") == _norm(want["title"])
                # loose: one holds the other (a "<title>" with " - WSJ" after the headline counts)
                meta["title (loose)"][1] += 1
                a, b = _norm(got.get("title") or ""), _norm(want["title"])
                meta["title (loose)"][0] += bool(a) and (a in b or b in a)
            if want.get("author"):
                names = want["author"] if isinstance(want["author"], list) else [want["author"]]
                meta["author"][1] += 1
                meta["author"][0] += any(_norm(n) in _norm(got.get("author") or "") for n in names)
            if want.get("date"):
                meta["date"][1] += 1
                meta["date"][0] += (got.get("date") or "")[:10] == want["date"]
            if args.gold and (Path(args.gold) / f"{i}.txt").exists():
                gold_pairs.append((got["text"] or "", (Path(args.gold) / f"{i}.txt").read_text(encoding="utf-8")))
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        acc = (tp + tn) / max(1, tp + fn + fp + tn)
        shingle = "-"
        if gold_pairs:
            sp, sr, sf = benchmark_f1(gold_pairs)
            shingle = f"{sp:.3f} / {sr:.3f} / {sf:.3f} ({len(gold_pairs)} pages)"
        hits = " / ".join(f"{100 * h / n:.1f} %" if n and (k.startswith("title") or name != "old hand-written reader")
                          else "0 %" if n else "-" for k, (h, n) in meta.items())
        print(f"| {name} | {p:.3f} / {r:.3f} / {f1:.3f} | {acc:.3f} | {shingle} | {hits} | "
              f"{len(ids) / seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
