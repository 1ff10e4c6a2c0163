"""Leases: which generations live readers still use, so garbage collection never deletes a segment file
a reader may still open. A lease is a small file holding a generation, kept flock-ed (shared) by its
owner for as long as it lives; a lease whose lock can be taken exclusively belongs to a dead process."""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path

PENDING = "pending"  # a reader that has not read its generation yet: protects every generation


class Lease:
    """A reader's claim on one generation; `set` records it, `release` (or process death) drops it."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(6)}.lease"
        tmp = folder / f".{name}.tmp"
        self._fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        os.write(self._fd, PENDING.encode())
        self.path = folder / name
        tmp.replace(self.path)  # visible to the collector only once locked

    def set(self, generation: int) -> None:
        data = str(generation).encode()
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def release(self) -> None:
        if self._fd >= 0:
            self.path.unlink(missing_ok=True)
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
