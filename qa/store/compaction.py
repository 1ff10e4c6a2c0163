"""Merge policy and compaction, in the shape of Lucene's: small delta segments accumulate; when there
are too many, they merge into one delta; when they hold more than a share of the base (or the base has
too many tombstones), everything merges into a new base, re-trained only when its kind must change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from qa.store import faults
from qa.store import segments as seg
from qa.store.schema import SegmentRow


@dataclass(frozen=True)
class MergePolicy:
    flat_max: int = 50_000  # a base above this many vectors is IVF
    max_deltas: int = 8  # more delta segments than this merge into one
    delta_share: float = 0.25  # deltas holding more than this share of the base's vectors fold into it
    tombstone_share: float = 0.2  # more deleted vectors than this share of all vectors: rewrite
    common_share: float = 0.01  # keyword search leaves out terms in more than this share of passages...
    common_min_passages: int = 100_000  # ...once the archive has this many


@dataclass(frozen=True)
class Merge:
    """Which segments to merge into one, and the role of the result."""

    inputs: tuple[SegmentRow, ...]
    role: str
    reason: str


def plan_merge(live: list[SegmentRow], tombstones: int, policy: MergePolicy, force: bool = False) -> Merge | None:
    """The merge the policy asks for now, if any (pure: no I/O)."""
    if not live:
        return None
    base = [s for s in live if s.role == "base"]
    deltas = [s for s in live if s.role == "delta"]
    total = sum(s.vectors for s in live)
    if force:
        if len(live) == 1 and not tombstones and live[0].role == "base":
            return None
        return Merge(tuple(live), "base", "compaction requested")
    if not base:
        return Merge(tuple(live), "base", "first base segment")
    delta_vectors = sum(s.vectors for s in deltas)
    if delta_vectors > policy.delta_share * base[0].vectors:
        return Merge(tuple(live), "base", f"{delta_vectors} delta vectors > {policy.delta_share:.0%} of the base")
    if total and tombstones > policy.tombstone_share * total:
        return Merge(tuple(live), "base", f"{tombstones} deleted vectors > {policy.tombstone_share:.0%} of all")
    if len(deltas) > policy.max_deltas:
        return Merge(tuple(deltas), "delta", f"{len(deltas)} delta segments > {policy.max_deltas}")
    return None


def merge(writer: Any, plan: Merge, policy: MergePolicy, log: Callable[[str], None]) -> SegmentRow | None:
    """Write the merged segment (dropping deleted vectors) and switch to it, in the writer's
    transaction; the caller commits. Returns the new segment (None when nothing was left to keep)."""
    hidden = writer.tombstones()
    ids_parts, vec_parts, seen = [], [], []
    base_row, base_index = None, None
    for row in plan.inputs:
        index = writer.store.load_segment(row)
        if row.role == "base":
            base_row, base_index = row, index
        ids, vectors = seg.segment_vectors(index)
        seen.append(ids)
        keep = ~np.isin(ids, hidden)
        ids_parts.append(ids[keep])
        vec_parts.append(vectors[keep])
    faults.step("during-compaction")
    ids = np.concatenate(ids_parts)
    vectors = np.concatenate(vec_parts)
    # A passage's vector sits in exactly one live segment, so the tombstones of merged ids can go.
    forget = hidden[np.isin(hidden, np.concatenate(seen))]
    row = None
    if len(ids):
        kind = seg.base_kind(len(ids), policy.flat_max, base_row.kind if base_row else None) \
            if plan.role == "base" else "Flat"
        if base_row is not None and kind == base_row.kind and kind != "Flat":
            index = seg.empty_like(base_index)  # the trained lists again: no k-means
            how = f"{kind}, lists kept"
        else:
            index = seg.new_index(kind, vectors.shape[1], vectors)
            how = kind + (", trained" if kind != "Flat" else "")
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        row = writer.add_segment(index, plan.role, kind)
        log(f"merged {len(plan.inputs)} segment(s) into {plan.role} segment {row.file} ({len(ids)} vectors, "
            f"{how}): {plan.reason}")
    writer.drop_segments([r.id for r in plan.inputs], forget)
    if plan.role == "base":
        writer.refresh_common_terms(policy.common_share, policy.common_min_passages)
    return row
