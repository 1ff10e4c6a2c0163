"""Retrieval at scale: exact (flat) search vs the index the project picks (float32, and SQ8 as `qa index
--vectors sq8` writes it), at 10k, 100k and 1M passages, probing `QA_IVF_NPROBE` lists (default: the store's).

FAISS-only numbers on synthetic vectors of the real dimension (384): unit vectors drawn around 5,000
random topic centres, so that they cluster the way sentence embeddings do (uniform random vectors would
make any approximate index look worse than it is on real text). Queries are fresh points from the same
distribution. Each size runs in its own process so that its peak memory (RSS) is its own.

    python bench/scale.py                 # 10k, 100k, 1M
    python bench/scale.py 10000 100000    # chosen sizes
    QA_IVF_NPROBE=32 python bench/scale.py 1000000
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIM, CENTRES, QUERIES, K = 384, 5000, 200, 10


def vectors(n: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(12345).standard_normal((CENTRES, DIM), dtype=np.float32)
    out = np.empty((n, DIM), np.float32)
    for a in range(0, n, 100_000):  # in blocks, to keep the temporary arrays small
        b = min(n, a + 100_000)
        out[a:b] = centres[rng.integers(0, CENTRES, b - a)] + 0.8 * rng.standard_normal((b - a, DIM), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory now (Linux), e.g. once the build's temporary arrays are freed."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def one(n: int, kind: str) -> dict:
    """Build one index of n passages and time single-query searches; runs in a child process."""
    import faiss
    import numpy as np

    from qa.config import Settings
    from qa.store.segments import ideal_kind, new_index

    s = Settings.load()  # QA_IVF_NPROBE applies
    base = rss_mb()
    data = vectors(n, seed=1)
    queries = vectors(QUERIES, seed=2)
    t = time.perf_counter()
    factory = "Flat" if kind == "flat" else ideal_kind(n, s.flat_max_passages, "SQ8" if kind == "sq8" else "Flat")
    index = new_index(factory, DIM, data)
    index.add_with_ids(data, np.arange(n, dtype=np.int64))
    build = time.perf_counter() - t
    if factory.startswith("IVF"):
        faiss.extract_index_ivf(index).nprobe = s.ivf_nprobe
    del data
    import gc

    gc.collect()
    serving = rss_mb() - base  # what the index itself holds once built
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q[None, :], K)
        times.append(time.perf_counter() - t)
        found.append(ids[0].tolist())
    return {"n": n, "kind": kind, "factory": factory, "build_s": round(build, 1),
            "p50_ms": round(1000 * statistics.median(times), 2),
            "p95_ms": round(1000 * statistics.quantiles(times, n=20)[18], 2),
            "index_mb": round(serving), "rss_mb": round(rss_mb()), "peak_rss_mb": round(peak_rss_mb()),
            "ids": found}


def main(sizes: list[int]) -> None:
    import faiss

    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads; dim {DIM}, top-{K}, "
          f"{QUERIES} single-vector queries; synthetic clustered unit vectors")
    print(f"{'passages':>9} {'index':>16} {'build s':>8} {'p50 ms':>7} {'p95 ms':>7} {'recall@10':>9} "
          f"{'index MB':>8} {'RSS MB':>7} {'peak RSS MB':>11}")
    for n in sizes:
        rows = {}
        from qa.config import Settings
        from qa.store.segments import ideal_kind

        kinds = ["flat"] + (["chosen", "sq8"] if ideal_kind(n, Settings().flat_max_passages) != "Flat" else [])
        for kind in kinds:
            out = subprocess.run([sys.executable, __file__, "--one", str(n), kind], capture_output=True,
                                 text=True, check=True)
            rows[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        exact = rows["flat"]["ids"]
        for kind, r in rows.items():
            hits = sum(len(set(a) & set(b)) for a, b in zip(r["ids"], exact))
            print(f"{n:>9,} {r['factory']:>16} {r['build_s']:>8} {r['p50_ms']:>7} {r['p95_ms']:>7} "
                  f"{hits / (K * len(exact)):>9.3f} {r['index_mb']:>8.0f} {r['rss_mb']:>7} {r['peak_rss_mb']:>11.0f}")
        if "chosen" in rows:
                print(f"{'':>9} speed-up of {rows['chosen']['factory']} over flat at p50: "
                  f"{rows['flat']['p50_ms'] / rows['chosen']['p50_ms']:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3])))
    else:
        main([int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000])
