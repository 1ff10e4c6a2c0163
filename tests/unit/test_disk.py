"""File-system faults told apart: a full disk, a read-only folder, a damaged database."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from qa import disk
from qa.errors import DiskFullError, ReadOnlyError


def test_a_full_disk_is_recognised_in_each_form_it_takes():
    assert disk.is_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk.is_full(RuntimeError("write error in seg.tmp: 1 != 9 (No space left on device)"))  # FAISS
    assert disk.is_full(sqlite3.OperationalError("database or disk is full"))
    assert not disk.is_full(OSError(errno.ENOENT, "No such file"))
    assert disk.is_read_only(OSError(errno.EROFS, "Read-only file system"))
    assert not disk.is_read_only(OSError(errno.ENOSPC, "No space left on device"))


def test_a_damaged_database_is_told_from_a_busy_or_full_one(tmp_path: Path):
    garbage = tmp_path / "qa.db"
    garbage.write_bytes(b"not a database at all" * 200)
    try:
        sqlite3.connect(garbage).execute("SELECT 1 FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        assert disk.is_damaged(exc)
    assert not disk.is_damaged(sqlite3.OperationalError("database is locked"))
    assert not disk.is_damaged(sqlite3.OperationalError("database or disk is full"))


def test_the_errors_name_the_folder_and_what_to_do(tmp_path: Path):
    full = disk.translated(OSError(errno.ENOSPC, "full"), tmp_path, "writing x", needed=2_000_000)
    assert isinstance(full, DiskFullError) and f"the disk holding {tmp_path} is full" in str(full)
    assert "writes about 2.0 MB" in str(full) and "free some space and try again" in str(full)
    ro = disk.translated(OSError(errno.EROFS, "ro"), tmp_path, "writing x")
    assert isinstance(ro, ReadOnlyError) and str(tmp_path) in str(ro)
    other = ValueError("x")
    assert disk.translated(other, tmp_path, "writing x") is other
