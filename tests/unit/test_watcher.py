"""The watcher notices a file added anywhere in the archive within seconds, not at its slow full pass."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from qa.indexing.watcher import Watcher


def test_a_file_added_to_a_sub_folder_is_noticed_at_the_next_quick_look(tmp_path: Path):
    corpus = tmp_path / "corpus"
    (corpus / "2022" / "03").mkdir(parents=True)
    builds = []

    def build():
        builds.append(time.monotonic())
        return SimpleNamespace(added=[], changed=[], removed=[], full_rebuild=None)

    watcher = Watcher(corpus, build, log=lambda m: None, every=0.05, full_every=3600)
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while not builds and time.monotonic() < deadline:  # the first look builds once
            time.sleep(0.02)
        assert len(builds) == 1
        (corpus / "2022" / "03" / "story.txt").write_text("A story\n\nIt happened.")  # deep, no full pass due
        deadline = time.monotonic() + 10
        while len(builds) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(builds) == 2
        (corpus / ".trash").mkdir()
        (corpus / ".trash" / "old.txt").write_text("gone")  # hidden folders do not count
        time.sleep(0.5)
        assert len(builds) == 2
    finally:
        watcher.stop()
