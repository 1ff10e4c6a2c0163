"""One root for the errors a user can act on: the CLI prints their message in one line and exits 2."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error qa raises on purpose; the message names the problem and the fix."""


class StoreError(QAError, RuntimeError):
    """The index store is missing, unreadable, damaged or of an unknown format."""
