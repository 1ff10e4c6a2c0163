"""Immutable FAISS vector segments: written once (fsynced before any commit references them), searched
together, merged by compaction. A deleted passage's vector stays in its segment until a merge; searches
hide it with a tombstone selector.

Kinds: "Flat" (exact; every delta segment, and the base while the archive is small) and "IVF{n},Flat"
(the base above `flat_max` passages, n about 4*sqrt(passages), re-trained only when the ideal n has
moved more than a factor of 2 away from the trained one, so one add or delete at a boundary never re-trains).
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import StoreError

REBUILD = "rebuild with `qa index --rebuild`"


def ideal_kind(n: int, flat_max: int) -> str:
    """Exact search while small; IVF with about 4*sqrt(n) lists (a power of two) above `flat_max`."""
    if n <= flat_max:
        return "Flat"
    return f"IVF{int(2 ** round(math.log2(4 * math.sqrt(n))))},Flat"


def base_kind(n: int, flat_max: int, current: str | None) -> str:
    """The base segment's kind for n vectors. Hysteresis keeps `current` near the boundaries, so one add
    or delete never re-trains: a Flat base turns IVF above `flat_max`; an IVF base turns Flat only under
    flat_max/2, and keeps its list count while the ideal count is within a factor 2 of it."""
    ideal = ideal_kind(n, flat_max)
    if current is None or current == "Flat":
        return ideal
    if n < flat_max // 2:
        return "Flat"
    ideal_lists = nlist(ideal_kind(max(n, flat_max + 1), flat_max))
    return current if ideal_lists / 2 <= nlist(current) <= ideal_lists * 2 else f"IVF{ideal_lists},Flat"


def nlist(kind: str) -> int:
    """Number of inverted lists of an IVF kind string (0 for Flat)."""
    return int(kind[3:].split(",")[0]) if kind.startswith("IVF") else 0


def new_index(kind: str, dim: int, train: np.ndarray) -> Any:
    """An empty index of this kind that takes ids, trained on (a sample of) `train` if it needs it."""
    import faiss

    if kind == "Flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    index = faiss.index_factory(dim, kind, faiss.METRIC_INNER_PRODUCT)
    # k-means on 64 points per list is plenty (FAISS asks for >= 39) and keeps 1M-passage builds quick.
    cap = 64 * nlist(kind)
    if len(train) > cap:
        train = train[np.random.default_rng(0).choice(len(train), cap, replace=False)]
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    return index


def empty_like(index: Any) -> Any:
    """An empty IVF,Flat index with the same trained coarse quantizer (works on memory-mapped ones)."""
    import faiss

    ivf = faiss.extract_index_ivf(index)
    quantizer = faiss.clone_index(ivf.quantizer)
    return faiss.IndexIVFFlat(quantizer, ivf.d, ivf.nlist, ivf.metric_type)


@dataclass(frozen=True)
class Written:
    file: str
    bytes: int
    crc32: int


def crc32_of(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            crc = zlib.crc32(block, crc)
    return crc


def write_segment(folder: Path, name: str, index: Any) -> Written:
    """Write `index` to folder/name durably: temporary file, fsync, rename, fsync of the folder."""
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = folder / f".{name}.tmp"
    faiss.write_index(index, str(tmp))
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return Written(name, path.stat().st_size, crc32_of(path))


def read_segment(path: Path, vectors: int, size: int, crc32: int | None = None, mmap: bool = True) -> Any:
    """Load one segment, checking its size and count (and its CRC-32 when given); memory-mapped when
    `mmap`, so the pages of a large base are shared with the page cache and read on demand."""
    import faiss

    if not path.exists():
        raise StoreError(f"index segment {path} is missing; {REBUILD}")
    if path.stat().st_size != size or (crc32 is not None and crc32_of(path) != crc32):
        raise StoreError(f"index segment {path} is truncated or corrupted (size or checksum mismatch); {REBUILD}")
    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if mmap else 0)
    except RuntimeError as exc:
        raise StoreError(f"index segment {path} is unreadable ({str(exc).splitlines()[0]}); {REBUILD}") from None
    if index.ntotal != vectors:
        raise StoreError(f"index segment {path} holds {index.ntotal} vectors, the store says {vectors}; {REBUILD}")
    return index


def segment_vectors(index: Any) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every entry of a Flat (IDMap2) or IVF,Flat segment."""
    import faiss

    if isinstance(index, faiss.IndexIDMap2):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        return ids, index.index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    ivf = faiss.extract_index_ivf(index)
    ids_parts, vec_parts = [], []
    for lst in range(ivf.nlist):
        n = ivf.invlists.list_size(lst)
        if not n:
            continue
        ids_parts.append(faiss.rev_swig_ptr(ivf.invlists.get_ids(lst), n).copy())
        codes = faiss.rev_swig_ptr(ivf.invlists.get_codes(lst), n * ivf.code_size).copy()
        vec_parts.append(codes.view(np.float32).reshape(n, ivf.d))
    if not ids_parts:
        return np.zeros(0, np.int64), np.zeros((0, ivf.d), np.float32)
    return np.concatenate(ids_parts).astype(np.int64), np.concatenate(vec_parts)


def hiding(hidden: np.ndarray) -> Any:
    """A FAISS selector that hides these ids (None when there are none); build once, search many times."""
    import faiss

    return faiss.IDSelectorNot(faiss.IDSelectorBatch(hidden)) if len(hidden) else None


def search(indexes: list[Any], query: np.ndarray, k: int, nprobe: int, selector: Any = None) -> list[tuple[int, float]]:
    """(id, inner product) of the k best vectors over all segments, best first; ids the `selector`
    hides never come back (FAISS skips them inside the search, so each segment still gives its k best)."""
    import faiss

    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    found: list[tuple[int, float]] = []
    for index in indexes:
        if index.ntotal == 0 or k <= 0:
            continue
        if nlist_of(index):
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe) if selector else \
                faiss.SearchParametersIVF(nprobe=nprobe)
        else:
            params = faiss.SearchParameters(sel=selector) if selector else None
        scores, ids = index.search(q, min(k, index.ntotal), params=params)
        found.extend((int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0)
    found.sort(key=lambda t: (-t[1], t[0]))  # ties by id: the same order however the segments are split
    return found[:k]


def nlist_of(index: Any) -> int:
    """Inverted lists of a loaded index (0 when it is not IVF)."""
    return int(getattr(index, "nlist", 0) or 0)


def describe_segments(rows: list[Any]) -> str:
    """E.g. "IVF1024,Flat base + 3 delta segments" for a list of segment rows."""
    base = [r.kind for r in rows if r.role == "base"]
    deltas = sum(1 for r in rows if r.role == "delta")
    parts = ([f"{base[0]} base"] if base else []) + ([f"{deltas} delta segment{'s' * (deltas != 1)}"] if deltas else [])
    return " + ".join(parts) or "empty"


def damaged_segments(folder: Path, rows: list[Any]) -> list[str]:
    """Files of these segments that are missing or not the size the store recorded (stat calls only)."""
    bad = []
    for row in rows:
        path = folder / row.file
        if not path.exists() or path.stat().st_size != row.bytes:
            bad.append(row.file)
    return bad
