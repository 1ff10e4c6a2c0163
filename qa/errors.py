"""The errors qa raises on purpose, in one tree: every one descends from `QAError`, and its message names
the problem and the fix. Front-ends catch `QAError` alone (the CLI prints it in one line and exits 2), so
anything else is a bug and keeps its traceback.

Where a built-in exception says the same, an error also descends from it (`QuestionError` is a
`ValueError`, `NotFoundError` a `FileNotFoundError`), so callers that catch those keep working.
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error qa raises on purpose."""


class SettingsError(QAError, ValueError):
    """A setting has a value qa cannot use (the message names the setting, its variable and the choices)."""


class UsageError(QAError, ValueError):
    """Options that do not go together, or an argument out of its range."""


class NotFoundError(QAError, FileNotFoundError):
    """A folder or file qa needs is not there (the corpus folder, an evaluation file)."""


class QuestionError(QAError, ValueError):
    """The question cannot be asked as given; the message says why."""


class HistoryError(QAError, TypeError):
    """The earlier turns of a conversation are not a list of Answers or question strings."""


class ArticleError(QAError, ValueError):
    """A file or text that cannot become an article, or a corpus change that cannot be made."""


class FetchError(QAError, OSError):
    """A feed or page could not be fetched, or was refused (its address, size, type or answer)."""


class FeedError(QAError, ValueError):
    """A feed that cannot be followed: not a feed, malformed, unknown to the list, or refused."""


class StoreError(QAError, RuntimeError):
    """The index store is missing, unreadable, damaged or of an unknown format."""


class IndexDamaged(StoreError):
    """The index's database or a segment file is damaged: `qa index` moves it aside and rebuilds it."""


class DiskFullError(QAError, OSError):
    """The disk holding a folder qa writes to is full; the message says which folder and about how much
    the step needed. Nothing committed is lost: free space and run the step again."""


class ReadOnlyError(QAError, OSError):
    """A folder qa must write to is read-only (or not writable by this user); reading still works."""


class ModelError(QAError, RuntimeError):
    """A model (the embedder or the reader) cannot be loaded; the message names the path and the cause."""


class EmbeddingError(ModelError):
    """The embedding model cannot be loaded."""


class ReaderModelError(ModelError):
    """The reader model cannot be loaded or saved."""


class NotAllowed(QAError, PermissionError):
    """The caller may not do this (only editors change the corpus)."""


class CredentialsError(QAError, ValueError):
    """The editor credentials given cannot be used."""


class Busy(QAError):
    """A request turned away for now (a rate or a queue is full); `seconds` says when to try again."""

    def __init__(self, message: str, seconds: int) -> None:
        super().__init__(message)
        self.seconds = seconds


class ClusterError(QAError):
    """The Ray cluster cannot be used (ray missing, cluster unreachable, a shard lost)."""


class DataError(QAError, ValueError):
    """An evaluation or training data file cannot be read as one."""


class TrainingError(QAError):
    """A training run cannot start or resume as configured."""
