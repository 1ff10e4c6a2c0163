"""Crash safety of the store: the build process is SIGKILLed at every named write step, and readers ask
questions through 50 commits and a compaction."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import CNN_ARTICLE, LIBRARY, ROOT, SEED_ANSWER, SEED_QUESTION, _article
from qa.store import Store
from qa.store.writer import STEPS


def _consistent(index: Path) -> set[str]:
    """The index loads and passes the full check; returns its article ids."""
    snap = Store(index).snapshot()
    try:
        assert snap.check(Store(index).segments_dir) == []
        return {a.id for a in snap.articles()}
    finally:
        snap.close()


@pytest.mark.parametrize("shards", [1, 3])  # the base written as one segment, or in 3 parts
@pytest.mark.parametrize("step", STEPS)
def test_killed_at_every_write_step_loses_and_duplicates_nothing(step: str, shards: int, corpus_dir: Path,
                                                                  make_pipeline, tmp_path: Path):
    index = tmp_path / "index"
    for i in range(3):
        (corpus_dir / f"town-{i}.txt").write_text(_article(i))
    make_pipeline(corpus_dir).build_index()
    (corpus_dir / "library.txt").write_text(LIBRARY)
    for i in range(3, 6):
        (corpus_dir / f"town-{i}.txt").write_text(_article(i))
    (corpus_dir / "town-0.txt").unlink()  # a delete, so that compaction and GC have work
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "crash_at.py"), step, "index", "--compact", "--shards", str(shards), "--corpus",
                           str(corpus_dir), "--index", str(index)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"never reached {step}: {proc.stderr[-2000:]}"

    _consistent(index)  # loads and is consistent, whatever step it died at
    pipe = make_pipeline(corpus_dir)
    assert pipe.ask(SEED_QUESTION).text == SEED_ANSWER

    report = pipe.build_index()  # the rerun completes the work
    expected = {p.stem for p in corpus_dir.iterdir()}
    assert _consistent(index) == expected, "nothing lost, nothing left over"
    assert report.articles_total == len(expected)
    files = {p.name for p in Store(index).segments_dir.iterdir()}
    with sqlite3.connect(index / "qa.db") as db:  # live segments, and dropped ones a reader still holds
        known = {r[0] for r in db.execute("SELECT file FROM segments")}
    assert files <= known, f"stray segment files: {files - known}"
    assert pipe.ask("Who runs the floating library?").text == "Teresa Quintela"


def test_readers_through_50_commits_and_a_compaction(corpus_dir: Path, make_pipeline, tmp_path: Path):
    pipe = make_pipeline(corpus_dir, max_delta_segments=4, delta_share=0.5)
    pipe.ask(SEED_QUESTION)
    errors: list[BaseException] = []
    answers: list[tuple[str | None, str | None]] = []
    stop = threading.Event()

    def asker() -> None:
        while not stop.is_set():
            try:
                a = pipe.ask(SEED_QUESTION)
                answers.append((a.text, a.article))
            except BaseException as exc:  # noqa: BLE001 - any error at all fails the test
                errors.append(exc)

    threads = [threading.Thread(target=asker) for _ in range(2)]
    for t in threads:
        t.start()
    generations = []
    try:
        for i in range(50):
            name = f"town-{i}.txt"
            (corpus_dir / name).write_text(_article(i))
            if i % 10 == 9:  # a change and a delete now and then
                (corpus_dir / f"town-{i - 1}.txt").write_text(_article(i - 1).replace("Sunday", "Monday"))
                (corpus_dir / f"town-{i - 5}.txt").unlink()
                pipe.build_index()
            else:
                pipe.build_index(files=[name])
            generations.append(pipe.store.generation())
        report = pipe.build_index(compact=True)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert len(answers) >= 10 and set(answers) == {(SEED_ANSWER, CNN_ARTICLE)}
    assert generations == sorted(generations) and generations[-1] - generations[0] >= 49
    assert "compaction requested" in report.merges
    assert _consistent(tmp_path / "index") == {p.stem for p in corpus_dir.iterdir()}
    answer = pipe.ask("Who was elected mayor of Kaford?")
    assert answer.text and "Mara Kason" in answer.text
