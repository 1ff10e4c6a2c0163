"""Test-only fault injection: `QA_KILL_AT=<step>` makes the process SIGKILL itself when it reaches that
named write step, so tests can prove that a crash at any step loses and duplicates nothing.
Steps: segment-written, before-commit, after-commit, during-gc, during-compaction."""

from __future__ import annotations

import os
import signal

STEPS = ("segment-written", "before-commit", "after-commit", "during-gc", "during-compaction")


def step(name: str) -> None:
    """Mark that the writer reached `name`; dies here if the environment asks for it."""
    if os.environ.get("QA_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
