"""Wire-copy detection (qa.ingest.copies) measured on pairs built from real stories, and its cost.

    python bench/copies.py [--seed S]

Copies: each of the 96 CNN stories of ../shared/data/qa/news-conversations-dev.jsonl run again as an
outlet would: re-headlined, trimmed (the last 20-50 % of paragraphs cut), paragraphs re-ordered, a few
words changed, and all of these at once. Different stories on one topic: pairs of those CNN stories that
share names (the same sportsman, city or case), two halves of one Wikipedia article (SQuAD dev: the same
topic, other paragraphs), and the two seed stories (one event, two outlets, written apart); also heavily edited copies (60 % cut, one
word in eight changed). Prints the
precision and recall of `is_copy` at several containment thresholds, and signatures per second."""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.ingest import copies  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "qa"


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def variants(story: str, rng: random.Random) -> dict[str, str]:
    ps = paragraphs(story)
    keep = max(2, int(len(ps) * rng.uniform(0.5, 0.8)))
    words = story.split()
    for _ in range(max(3, len(words) // 60)):  # a few words changed, as an editor would
        i = rng.randrange(len(words))
        words[i] = rng.choice(["said", "told", "the", "reported", "officials", "Tuesday"])
    heavy = "\n\n".join(ps[: max(2, int(len(ps) * 0.4))]).split(" ")
    for i in range(0, len(heavy), 8):  # one word in eight changed, and 60 % of the story cut
        heavy[i] = rng.choice(["said", "told", "the", "reported", "officials", "Tuesday"])
    shuffled = ps[:]
    rng.shuffle(shuffled)
    both = ps[:keep]
    rng.shuffle(both)
    return {"re-headlined": "A new headline for the same story\n\n" + story,
            "trimmed": "\n\n".join(ps[:keep]),
            "re-ordered": "\n\n".join(shuffled),
            "words changed": " ".join(words),
            "all at once": "Another outlet's headline\n\n" + "\n\n".join(both),
            "heavily edited (1 word in 8, 60 % cut)": " ".join(heavy)}


def names(text: str) -> set[str]:
    return set(re.findall(r"\b[A-Z][a-z]{3,}(?:\s[A-Z][a-z]{3,})+", text))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    stories = list({r["story_id"]: r["story"] for r in map(json.loads, open(DATA / "news-conversations-dev.jsonl"))}.values())
    positives = [(kind, s, v) for s in stories for kind, v in variants(s, rng).items()]
    negatives = [("CNN stories sharing names", a, b) for a, b in combinations(stories, 2)
                 if len(names(a) & names(b)) >= 2]
    for article in json.loads((DATA / "dev.json").read_text())["data"]:
        ps = [p["context"] for p in article["paragraphs"]]
        if len(ps) >= 4:
            negatives.append(("two halves of one Wikipedia article", "\n\n".join(ps[: len(ps) // 2]),
                              "\n\n".join(ps[len(ps) // 2 :])))
    seed = sorted((ROOT / "corpus").glob("*.txt"))
    negatives.append(("the two seed stories (one event, two outlets)", seed[0].read_text(), seed[1].read_text()))

    t0 = time.perf_counter()
    cache: dict[str, copies.Signature | None] = {}
    for _, a, b in positives + negatives:
        for t in (a, b):
            if t not in cache:
                cache[t] = copies.signature(t)
    seconds = time.perf_counter() - t0
    print(f"{len(positives)} copy pairs, {len(negatives)} pairs of different stories; "
          f"{len(cache)} signatures at {len(cache) / seconds:.0f} per second")

    def score(a: str, b: str) -> float:
        sa, sb = cache[a], cache[b]
        return copies.containment(sa, sb) if sa is not None and sb is not None else 0.0

    pos = [(k, score(a, b)) for k, a, b in positives]
    neg = [(k, score(a, b)) for k, a, b in negatives]
    print("\n| containment threshold | precision | recall | false copies |\n|---|---|---|---|")
    for threshold in (0.25, 0.3, 0.35, 0.4, 0.5, 0.6):
        tp = sum(s >= threshold for _, s in pos)
        fp = sum(s >= threshold for _, s in neg)
        mark = " (shipped)" if threshold == copies.CONTAINMENT else ""
        print(f"| {threshold}{mark} | {tp / max(1, tp + fp):.3f} | {tp / len(pos):.3f} | {fp} of {len(neg)} |")
    print("\n| pairs | n | recall at the shipped threshold | lowest / highest containment |\n|---|---|---|---|")
    for kind in dict.fromkeys(k for k, _ in pos + neg):
        scores = [s for k, s in pos + neg if k == kind]
        hit = sum(s >= copies.CONTAINMENT for s in scores)
        print(f"| {kind} | {len(scores)} | {hit}/{len(scores)} | {min(scores):.2f} / {max(scores):.2f} |")
    # LSH: how often a copy pair shares at least one band (is found as a candidate at all)
    def candidates(a: str, b: str) -> bool:
        return cache[a] is not None and cache[b] is not None and bool(set(cache[a].bands()) & set(cache[b].bands()))

    found = sum(candidates(a, b) for _, a, b in positives)
    both = sum(candidates(a, b) and score(a, b) >= copies.CONTAINMENT for _, a, b in positives)
    wrong = sum(candidates(a, b) and score(a, b) >= copies.CONTAINMENT for _, a, b in negatives)
    print(f"\ncopy pairs found as LSH candidates (a band in common): {found}/{len(positives)}; found and judged "
          f"copies, as indexing does: recall {both / len(positives):.3f}, false copies {wrong} of {len(negatives)}")


if __name__ == "__main__":
    main()
