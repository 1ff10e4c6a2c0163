"""Leases: which generations live readers still use, so garbage collection never deletes a segment file
a reader may still open. A lease is a small file holding a generation, kept flock-ed (shared) by its
owner for as long as it lives; a lease whose lock can be taken exclusively belongs to a dead process."""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path

from qa import disk

PENDING = "pending"  # a reader that has not read its generation yet: protects every generation


class Lease:
    """A reader's claim on one generation; `set` records it, `release` (or process death) drops it.

    Reading must not need free space: where the lease file cannot be written (a full disk, a read-only
    folder) the reader goes on without one (`path` None). It then relies on what a lease-less reader
    has anyway: segments it has loaded stay mapped even if a writer collects their files."""

    def __init__(self, folder: Path) -> None:
        self._fd = -1
        self.path: Path | None = None
        name = f"{os.getpid()}-{secrets.token_hex(6)}.lease"
        tmp = folder / f".{name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            os.write(self._fd, PENDING.encode())
            tmp.replace(folder / name)  # visible to the collector only once locked
            self.path = folder / name
        except OSError as exc:
            if not (disk.is_full(exc) or disk.is_read_only(exc)):
                raise
            self._close()
            tmp.unlink(missing_ok=True)

    def set(self, generation: int) -> None:
        if self.path is None:
            return
        data = str(generation).encode()
        try:
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))
        except OSError as exc:  # the lease keeps "pending": it protects every generation, more than needed
            if not (disk.is_full(exc) or disk.is_read_only(exc)):
                raise

    def release(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def leased_generations(folder: Path) -> set[int] | None:
    """The generations live readers hold; None when a reader has not named its generation yet (then
    nothing may be collected). Leases of dead processes are removed on the way."""
    if not folder.is_dir():
        return set()
    held: set[int] = set()
    for path in folder.glob("*.lease"):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # alive
                text = os.pread(fd, 64, 0).decode(errors="replace").strip()
                if not text.isdigit():
                    return None
                held.add(int(text))
                continue
            path.unlink(missing_ok=True)  # its owner is gone
        finally:
            os.close(fd)
    return held
