"""Telling the faults of the file system apart, so that each becomes one clear error: a full disk, a
folder that cannot be written, a damaged SQLite database. FAISS reports its write errors as RuntimeError
text and SQLite as error codes, so both are read here."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from qa.errors import DiskFullError, ReadOnlyError

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "database or disk is full")
_READ_ONLY_TEXT = ("Read-only file system", "attempt to write a readonly database", "Permission denied")
# SQLite result codes (the primary code is the low byte of the extended one)
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB, SQLITE_READONLY, SQLITE_CANTOPEN = 10, 11, 13, 26, 8, 14
_DAMAGE_TEXT = ("malformed", "not a database", "vtable constructor failed", "corrupt")


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_full(exc: BaseException) -> bool:
    """A write that failed because the disk (or the user's quota) is full."""
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    return _code(exc) == SQLITE_FULL or any(t in str(exc) for t in _FULL_TEXT)


def is_read_only(exc: BaseException) -> bool:
    """A write that failed because the folder or its file system may not be written."""
    if isinstance(exc, OSError) and exc.errno in _READ_ONLY_ERRNOS:
        return True
    return _code(exc) == SQLITE_READONLY or any(t in str(exc) for t in _READ_ONLY_TEXT)


def is_damaged(exc: BaseException) -> bool:
    """An SQLite error that says the database file itself is damaged (not busy, full or read-only)."""
    if not isinstance(exc, sqlite3.DatabaseError) or is_full(exc) or is_read_only(exc):
        return False
    return _code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB) or any(t in str(exc) for t in _DAMAGE_TEXT)


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system of `folder` (or of its nearest existing parent)."""
    for candidate in (Path(folder), *Path(folder).parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} kB"


def full(folder: Path, doing: str, needed: int | None = None, after: str = "") -> DiskFullError:
    """The error for a full disk under `folder` while `doing` something (about `needed` bytes)."""
    need = f"; this step writes about {_mb(needed)}" if needed else ""
    return DiskFullError(f"the disk holding {folder} is full ({_mb(free_bytes(folder))} free) while {doing}"
                         f"{need}: free some space and try again{after}")


def read_only(folder: Path, doing: str, after: str = "") -> ReadOnlyError:
    """The error for a folder that cannot be written while `doing` something."""
    return ReadOnlyError(f"{folder} cannot be written (a read-only file system or no permission) while "
                         f"{doing}{after}")


def translated(exc: BaseException, folder: Path, doing: str, needed: int | None = None,
               after: str = "") -> BaseException:
    """`exc` as one of qa's errors when it is a full disk or a read-only folder, else `exc` itself."""
    if is_full(exc):
        return full(folder, doing, needed, after)
    if is_read_only(exc):
        return read_only(folder, doing, after)
    return exc
