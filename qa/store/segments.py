"""Immutable FAISS vector segments: written once (fsynced before any commit references them), searched
together, merged by compaction. A deleted passage's vector stays in its segment until a merge; searches
hide it with a tombstone selector.

Kinds: "Flat" (exact; every delta segment, and the base while the archive is small) and "IVF{n},{codec}"
(the base above `flat_max` passages, n about 4*sqrt(passages), re-trained only when the ideal n has
moved more than a factor of 2 away from the trained one, so one add or delete at a boundary never re-trains).
The codec is how an IVF base stores its vectors: "Flat" (float32, 1,536 bytes a vector) or "SQ8" (one
byte per dimension, 384 bytes: a quarter of the memory, recall@5 0.950 against 0.954 on real vectors,
research/pq_recall.py). SQ8 codes the vectors themselves, not their residuals from the list centroids (the
same recall on real vectors), so a vector decoded and coded again by the same trained quantizer gets the
same bytes: merges that keep the lists lose nothing more; a re-trained base is trained on decoded vectors.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa import disk
from qa.errors import IndexDamaged

REBUILD = "`qa index` moves it aside and rebuilds the index from the corpus"




def ideal_kind(n: int, flat_max: int, codec: str = "Flat") -> str:
    """Exact search while small; IVF with about 4*sqrt(n) lists (a power of two) above `flat_max`, its
    vectors stored with `codec`."""
    if n <= flat_max:
        return "Flat"
    return f"IVF{int(2 ** round(math.log2(4 * math.sqrt(n))))},{codec}"


def base_kind(n: int, flat_max: int, current: str | None, codec: str = "Flat") -> str:
    """The base segment's kind for n vectors. Hysteresis keeps `current`'s lists near the boundaries, so
    one add or delete never re-trains them: a Flat base turns IVF above `flat_max`; an IVF base turns Flat
    only under flat_max/2, and keeps its list count while the ideal count is within a factor 2 of it. An
    IVF base always takes `codec`."""
    ideal = ideal_kind(n, flat_max, codec)
    if current is None or current == "Flat":
        return ideal
    if n < flat_max // 2:
        return "Flat"
    ideal_lists = nlist(ideal_kind(max(n, flat_max + 1), flat_max))
    lists = nlist(current) if ideal_lists / 2 <= nlist(current) <= ideal_lists * 2 else ideal_lists
    return f"IVF{lists},{codec}"


def nlist(kind: str) -> int:
    """Number of inverted lists of an IVF kind string (0 for Flat)."""
    return int(kind[3:].split(",")[0]) if kind.startswith("IVF") else 0


def codec_of(kind: str) -> str:
    """How a segment of this kind stores its vectors: "Flat" (float32) or "SQ8"."""
    return kind.split(",")[1] if kind.startswith("IVF") else "Flat"


def new_index(kind: str, dim: int, train: np.ndarray) -> Any:
    """An empty index of this kind that takes ids, trained on (a sample of) `train` if it needs it."""
    import faiss

    if kind == "Flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    index = faiss.index_factory(dim, kind, faiss.METRIC_INNER_PRODUCT)
    if codec_of(kind) == "SQ8":
        faiss.downcast_index(faiss.extract_index_ivf(index)).by_residual = False  # see the module's note
    # k-means on 64 points per list is plenty (FAISS asks for >= 39) and keeps 1M-passage builds quick.
    cap = 64 * nlist(kind)
    if len(train) > cap:
        train = train[np.random.default_rng(0).choice(len(train), cap, replace=False)]
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    return index


def empty_like(index: Any) -> Any:
    """An empty IVF index with the same trained coarse quantizer and codec (works on memory-mapped ones,
    which FAISS cannot clone)."""
    import faiss

    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    quantizer = faiss.clone_index(ivf.quantizer)
    if isinstance(ivf, faiss.IndexIVFScalarQuantizer):
        empty = faiss.IndexIVFScalarQuantizer(quantizer, ivf.d, ivf.nlist, ivf.sq.qtype, ivf.metric_type,
                                              ivf.by_residual)
        faiss.copy_array_to_vector(faiss.vector_to_array(ivf.sq.trained), empty.sq.trained)
        empty.is_trained = True
        return empty
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
    try:
        faiss.write_index(index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:  # FAISS reports a failed write as a RuntimeError
        tmp.unlink(missing_ok=True)
        raise disk.translated(exc, folder.parent, f"writing the vector segment {name}",
                              needed=int(index.ntotal) * (int(index.d) * 4 + 8),
                              after="; the last committed index is still served") from None
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
        raise IndexDamaged(f"index segment {path} is missing; {REBUILD}")
    if path.stat().st_size != size or (crc32 is not None and crc32_of(path) != crc32):
        raise IndexDamaged(f"index segment {path} is truncated or corrupted (size or checksum mismatch); {REBUILD}")
    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if mmap else 0)
    except RuntimeError as exc:
        raise IndexDamaged(f"index segment {path} is unreadable ({str(exc).splitlines()[0]}); {REBUILD}") from None
    if index.ntotal != vectors:
        raise IndexDamaged(f"index segment {path} holds {index.ntotal} vectors, the store says {vectors}; {REBUILD}")
    return index


def segment_vectors(index: Any, only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every entry of a Flat (IDMap2), IVF,Flat or IVF,SQ8 segment (SQ8: decoded); with
    `only`, of the entries with those ids alone (their ids are read, the rest of the vectors are not)."""
    import faiss

    if isinstance(index, faiss.IndexIDMap2):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        if only is not None:
            at = np.flatnonzero(np.isin(ids, only))
            vectors = np.stack([index.index.reconstruct(int(i)) for i in at]) if len(at) else np.zeros((0, index.d), np.float32)
            return ids[at], vectors
        return ids, index.index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    ids_parts, vec_parts = [], []
    for lst in range(ivf.nlist):
        n = ivf.invlists.list_size(lst)
        if not n:
            continue
        ids = faiss.rev_swig_ptr(ivf.invlists.get_ids(lst), n).copy()
        keep = np.flatnonzero(np.isin(ids, only)) if only is not None else slice(None)
        if only is not None and not len(keep):
            continue
        codes = faiss.rev_swig_ptr(ivf.invlists.get_codes(lst), n * ivf.code_size).copy()
        ids_parts.append(ids[keep])
        vec_parts.append(_decoded(ivf, codes.reshape(n, ivf.code_size)[keep]))
    if not ids_parts:
        return np.zeros(0, np.int64), np.zeros((0, ivf.d), np.float32)
    return np.concatenate(ids_parts).astype(np.int64), np.concatenate(vec_parts)


def _decoded(ivf: Any, codes: np.ndarray) -> np.ndarray:
    """The float vectors of one inverted list's codes."""
    import faiss

    if isinstance(ivf, faiss.IndexIVFScalarQuantizer):
        return ivf.sq.decode(codes)  # codes of the vectors, not of residuals (see new_index)
    return codes.view(np.float32)


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
