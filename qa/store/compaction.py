"""Merge policy and compaction, in the shape of Lucene's: small delta segments accumulate; when there
are too many, they merge into one delta; when they hold more than a share of the base (or the base has
too many tombstones), everything merges into a new base, re-trained only when its kind must change.

The base may be written in parts (`MergePolicy.base_parts`, `qa index --shards N`): part i holds the
passages whose id is i modulo N, and every part of an IVF base shares one trained coarse quantizer. A search
over the parts, each with the same nprobe, merged by score, finds exactly what a search over one base finds
(the probed lists depend on the query and the quantizer only), so the parts can be searched on different
machines (qa.cluster.shards) with the same results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import sys

import numpy as np

from qa.store import segments as seg
from qa.store.schema import SegmentRow
from qa.store.writer import STEP


@dataclass(frozen=True)
class MergePolicy:
    flat_max: int = 50_000  # a base above this many vectors is IVF
    max_deltas: int = 8  # more delta segments than this merge into one
    delta_share: float = 0.25  # deltas holding more than this share of the base's vectors fold into it
    tombstone_share: float = 0.2  # more deleted vectors than this share of all vectors: rewrite
    common_share: float = 0.01  # keyword search leaves out terms in more than this share of passages...
    common_min_passages: int = 100_000  # ...once the archive has this many
    base_parts: int = 1  # the base is written in this many parts (shards), split by passage id
    codec: str = "Flat"  # how an IVF base stores its vectors: "Flat" (float32) or "SQ8" (see qa.store.segments)


@dataclass(frozen=True)
class Merge:
    """Which segments to merge into one, and the role of the result."""

    inputs: tuple[SegmentRow, ...]
    role: str
    reason: str


def plan_merge(live: list[SegmentRow], tombstones: int, policy: MergePolicy, force: bool = False,
               base_parts: int = 1) -> Merge | None:
    """The merge the policy asks for now, if any (pure: no I/O). `base_parts`: the parts the live base
    was written in."""
    if not live:
        return None
    base = [s for s in live if s.role == "base"]
    deltas = [s for s in live if s.role == "delta"]
    total = sum(s.vectors for s in live)
    if force:
        if not deltas and not tombstones and base and base_parts == policy.base_parts and \
                not _other_codec(base[0], policy):
            return None
        return Merge(tuple(live), "base", "compaction requested")
    if not base:
        return Merge(tuple(live), "base", "first base segment")
    if base_parts != policy.base_parts:
        return Merge(tuple(live), "base", f"the base is written in {policy.base_parts} part(s), not {base_parts}")
    if _other_codec(base[0], policy):
        return Merge(tuple(live), "base", f"the base's vectors are stored as {policy.codec}, not {seg.codec_of(base[0].kind)}")
    delta_vectors = sum(s.vectors for s in deltas)
    if delta_vectors > policy.delta_share * sum(s.vectors for s in base):
        return Merge(tuple(live), "base", f"{delta_vectors} delta vectors > {policy.delta_share:.0%} of the base")
    if total and tombstones > policy.tombstone_share * total:
        return Merge(tuple(live), "base", f"{tombstones} deleted vectors > {policy.tombstone_share:.0%} of all")
    if len(deltas) > policy.max_deltas:
        return Merge(tuple(deltas), "delta", f"{len(deltas)} delta segments > {policy.max_deltas}")
    return None


def _other_codec(base: SegmentRow, policy: MergePolicy) -> bool:
    """An IVF base whose vectors are stored otherwise than the policy says (a Flat base has no codec)."""
    return base.kind != "Flat" and seg.codec_of(base.kind) != policy.codec


def compact(writer: Any, policy: MergePolicy, force: bool = False, log: Callable[[str], None] = print) -> list[str]:
    """Apply the merge policy (or merge everything with `force`), one commit per merge; the reasons."""
    reasons = []
    while (plan := plan_merge(writer.live_segments(), len(writer.tombstones()), policy, force=force,
                              base_parts=int(writer.get("base_parts") or 1))) is not None:
        merge(writer, plan, policy, log)
        reasons.append(plan.reason)
        writer.checkpoint()
        force = False
    return reasons


def merge(writer: Any, plan: Merge, policy: MergePolicy, log: Callable[[str], None]) -> list[SegmentRow]:
    """Write the merged segment(s) (dropping deleted vectors) and switch to them, in the writer's
    transaction; the caller commits. Returns the new segments (none when nothing was left to keep)."""
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
    sys.audit(STEP, "during-compaction")
    ids = np.concatenate(ids_parts)
    vectors = np.concatenate(vec_parts)
    # A passage's vector sits in exactly one live segment, so the tombstones of merged ids can go.
    forget = hidden[np.isin(hidden, np.concatenate(seen))]
    rows = _write_merged(writer, plan, policy, ids, vectors, base_row, base_index, log) if len(ids) else []
    writer.drop_segments([r.id for r in plan.inputs], forget)
    if plan.role == "base":
        writer.set("base_parts", str(policy.base_parts))
        writer.refresh_common_terms(policy.common_share, policy.common_min_passages)
    return rows


def _write_merged(writer: Any, plan: Merge, policy: MergePolicy, ids: np.ndarray, vectors: np.ndarray,
                  base_row: SegmentRow | None, base_index: Any, log: Callable[[str], None]) -> list[SegmentRow]:
    """Write the kept vectors as one delta, or as the base in `policy.base_parts` parts (part i: ids equal
    to i modulo the parts; an empty part is not written), all IVF parts on one trained quantizer."""
    kind = seg.base_kind(len(ids), policy.flat_max, base_row.kind if base_row else None, policy.codec) \
        if plan.role == "base" else "Flat"
    if base_row is not None and kind == base_row.kind and kind != "Flat":
        trained = seg.empty_like(base_index)  # the trained lists again: no k-means
        how = f"{kind}, lists kept"
    else:
        trained = seg.new_index(kind, vectors.shape[1], vectors)
        how = kind + (", trained" if kind != "Flat" else "")
    parts = policy.base_parts if plan.role == "base" else 1
    rows = []
    for part in range(parts):
        mine = ids % parts == part
        if not mine.any():
            continue
        index = trained if not rows else seg.empty_like(trained) if kind != "Flat" else seg.new_index(kind, vectors.shape[1], vectors)
        index.add_with_ids(np.ascontiguousarray(vectors[mine], dtype=np.float32), ids[mine])
        rows.append(writer.add_segment(index, plan.role, kind))
    log(f"merged {len(plan.inputs)} segment(s) into {plan.role} {'segment' if len(rows) == 1 else f'segments in {len(rows)} parts'} "
        f"{', '.join(r.file for r in rows)} ({len(ids)} vectors, {how}): {plan.reason}")
    return rows
