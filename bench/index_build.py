"""Index build: embedding throughput, incremental add of 1 article vs a full rebuild, peak memory; with
--large, adding, deleting and compacting at 100k articles, and the bytes each of those writes.

Articles are real paragraphs (SQuAD-format training data, one paragraph per article, ~1 passage each).

    python bench/index_build.py                     # 2,000 articles, real embeddings throughout
    python bench/index_build.py --articles 10000    # 10k (about 10 min a full build on 2 cores)
    python bench/index_build.py --large 100000      # also: add/delete 1 article at 100k, compaction

With --large, the 100k background articles get random unit vectors instead of real embeddings (embedding
them for real would take over an hour on 2 cores); everything else — reading the corpus, chunking, the
store, the FAISS segments, the files written — is the real code path, and the added article is embedded
for real. Bytes written are the kernel's count for this process (/proc/self/io write_bytes: WAL, database
and segment files, fsyncs included).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NEW_ARTICLE = ("Harbour city opens a floating library\n\nThe city of Valmora opened a floating library on "
               "Saturday. The converted ferry is moored in the old harbour, is run by the novelist Teresa "
               "Quintela and holds 12,000 books. Entry is free and the ferry sails to the islands once a month.\n")


def paragraphs(path: Path, n: int) -> list[tuple[str, str]]:
    """n (title, text) articles; past the end of the data, paragraphs come round again as numbered
    follow-up reports (distinct texts, so that none is skipped as a duplicate)."""
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    base = [(f"{a['title'].replace('_', ' ')} ({i + 1})", p["context"])
            for a in data for i, p in enumerate(a["paragraphs"])]
    return [(t if k < len(base) else f"{t}, report {k // len(base) + 1}",
             x if k < len(base) else f"Report {k // len(base) + 1}. {x}")
            for k, (t, x) in ((k, base[k % len(base)]) for k in range(n))]


def write_corpus(folder: Path, items: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True)
    for i, (title, text) in enumerate(items):
        (folder / f"a{i:06d}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")


def written() -> int:
    """Bytes this process has caused to be written to storage so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def timed(action):
    """(result, seconds, bytes written) of one call."""
    b, t = written(), time.perf_counter()
    result = action()
    return result, time.perf_counter() - t, written() - b


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=2_000)
    ap.add_argument("--large", type=int, default=0, help="also time adding 1 article to this many (random vectors)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/qa/train.json.gz"))
    args = ap.parse_args()

    import numpy as np

    from qa.config import Settings
    from qa.retrieval.embedding import Embedder
    from qa.pipeline import Pipeline

    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    items = paragraphs(Path(args.data), max(args.articles, args.large))
    try:
        settings = Settings.load(corpus_dir=work / "corpus", index_dir=work / "index")
        embedder = Embedder(settings.embedding_model)
        embedder.encode(["warm up"])
        write_corpus(work / "corpus", items[: args.articles])
        pipe = Pipeline(settings, log=lambda m: None, embedder=embedder)
        full = pipe.build_index()
        print(f"full build, {args.articles:,} articles: {full.passages_total:,} passages in {full.seconds:.1f}s "
              f"(embedding {full.embed_seconds:.1f}s = {full.passages_total / full.embed_seconds:.0f} passages/s); "
              f"peak RSS {peak_mb():.0f} MB")
        (work / "corpus" / "new-article.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        inc = pipe.build_index()
        alone = _embed_alone(pipe, embedder)
        print(f"add 1 article ({inc.passages_embedded} passage embedded): {inc.seconds:.2f}s; embedding it alone "
              f"{alone:.3f}s -> {inc.seconds / alone:.1f}x the embedding alone")
        rebuilt = pipe.build_index(rebuild=True)
        print(f"full rebuild instead: {rebuilt.seconds:.1f}s -> incremental is {rebuilt.seconds / inc.seconds:.0f}x "
              f"faster; peak RSS {peak_mb():.0f} MB")

        if args.large:
            class RandomVectors(Embedder):
                """Stands in for the model only while filling the background corpus (see module doc)."""

                def encode(self, texts, progress=None):
                    v = np.random.default_rng(len(texts)).standard_normal((len(texts), 384)).astype(np.float32)
                    return v / np.linalg.norm(v, axis=1, keepdims=True)

            big = Settings.load(corpus_dir=work / "big", index_dir=work / "big-index")
            write_corpus(work / "big", items[: args.large])
            t = time.perf_counter()
            filled = Pipeline(big, log=lambda m: None, embedder=RandomVectors(big.embedding_model)).build_index()
            print(f"background: {args.large:,} articles, {filled.passages_total:,} passages, {filled.index_type} "
                  f"(random vectors) in {time.perf_counter() - t:.0f}s")
            real = Pipeline(big, log=lambda m: None, embedder=embedder)
            real.build_index()  # settles the merge policy after the fill; nothing to embed
            big_alone = _embed_alone(real, embedder, work / "new-article.txt")
            (work / "big" / "new-article.txt").write_text(NEW_ARTICLE, encoding="utf-8")
            inc, sec, wb = timed(lambda: real.build_index(files=["new-article.txt"]))
            print(f"add 1 article to {args.large:,} (`qa index FILE`): {sec:.3f}s ({inc.passages_embedded} embedded) = "
                  f"{sec / big_alone:.1f}x chunking+embedding it alone ({big_alone:.3f}s); {wb / 1e6:.2f} MB written")
            (work / "big" / "second-article.txt").write_text(NEW_ARTICLE.replace("Valmora", "Ostrava"), encoding="utf-8")
            inc, sec, wb = timed(real.build_index)
            print(f"add 1 article to {args.large:,} (`qa index`, whole folder scanned): {sec:.3f}s = "
                  f"{sec / big_alone:.1f}x the article alone; {wb / 1e6:.2f} MB written")
            (work / "big" / "a000123.txt").unlink()
            rem, sec, wb = timed(lambda: real.build_index(files=["a000123.txt"]))
            print(f"delete 1 article from {args.large:,}: {sec:.3f}s (removed {rem.removed}); {wb / 1e6:.2f} MB written")
            comp, sec, wb = timed(lambda: real.build_index(compact=True))
            print(f"compaction at {args.large:,} articles ({comp.passages_total:,} passages -> {comp.index_type}): "
                  f"{sec:.1f}s; {wb / 1e6:.0f} MB written; peak RSS {peak_mb():.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _embed_alone(pipe, embedder, path: Path | None = None) -> float:
    """Median time to chunk and embed the new article by itself (the floor for any incremental add)."""
    import statistics

    from qa.ingest.files import read_articles

    if path is not None:
        path.write_text(NEW_ARTICLE, encoding="utf-8")
    article = read_articles(path or pipe.settings.corpus_dir / "new-article.txt")[0]
    times = []
    for _ in range(5):
        t = time.perf_counter()
        chunks = pipe.indexer.chunker.split(article)
        embedder.encode([f"{p.title}\n{p.text}" for p in chunks])
        times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == "__main__":
    main()
