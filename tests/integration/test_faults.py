"""A full disk, a damaged index, a read-only index folder, an index deleted under a running server: none
takes asking down, none needs repair by hand. The disks are real small file systems (tmpfs, mounted
here: the tests run as root); where mounting is impossible, the full disk is injected as the ENOSPC
error FAISS reports, and the test says which ran."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import ROOT, SEED_ANSWER, SEED_QUESTION, _article
from qa.errors import DiskFullError, IndexDamaged, StoreError
from qa.ingest.editor import CorpusEditor


def qa(*args: str, corpus: Path, index: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "qa", *args, "--corpus", str(corpus), "--index", str(index)],
                          capture_output=True, text=True, env=env, timeout=600)


@contextlib.contextmanager
def small_disk(path: Path, kilobytes: int) -> Iterator[bool]:
    """A tmpfs of `kilobytes` mounted at `path`; yields False (nothing mounted) where that is impossible."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(path)],
                             capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of `folder` until `leave` bytes are free."""
    filler = folder / "filler"
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(filler, "wb") as fh:
        try:
            fh.write(b"\0" * max(0, free - leave))
        except OSError:
            pass
    return filler


def no_traceback(out: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in out.stderr, out.stderr[-3000:]


def add_towns(corpus: Path, first: int, n: int) -> None:
    for i in range(first, first + n):
        (corpus / f"town-{i}.txt").write_text(_article(i) * 6)


def test_indexing_onto_a_full_disk_says_so_and_leaves_asking_up(corpus_dir: Path, tmp_path: Path, make_pipeline,
                                                                 monkeypatch, record_property):
    index = tmp_path / "index"
    with small_disk(index, 3000) as mounted:
        record_property("disk", "tmpfs" if mounted else "injected ENOSPC")
        first = qa("index", corpus=corpus_dir, index=index)
        assert first.returncode == 0, first.stderr[-2000:]
        add_towns(corpus_dir, 0, 40)
        if mounted:
            filler = fill(index, leave=60_000)
            out = qa("index", corpus=corpus_dir, index=index)
            no_traceback(out)
            assert out.returncode == 2
            [line] = out.stderr.strip().splitlines()[-1:]
            assert line.startswith("qa: error: the disk holding") and "is full" in line and str(index) in line
            assert "the last committed index is still served" in line
        else:  # FAISS reports a failed write as this RuntimeError, after writing part of the file
            import faiss

            def full_disk(index_, name):
                Path(name).write_bytes(b"\0" * 1000)
                raise RuntimeError(f"Error: 'ret == (size * 4)' failed: write error in {name}: 1000 != 9000 "
                                   f"(No space left on device)")

            monkeypatch.setattr(faiss, "write_index", full_disk)
            with pytest.raises(DiskFullError, match="is full .*vector segment"):
                make_pipeline(corpus_dir).build_index()
            monkeypatch.undo()
        leftovers = [p.name for p in (index / "segments").iterdir() if p.name != "seg-000002.faiss"]
        assert leftovers == [], "no temporary or unreferenced segment file stays behind"
        if mounted:
            fill(index, leave=0)  # not a byte left: a new process still answers from the last commit
        answer = qa("ask", SEED_QUESTION, corpus=corpus_dir, index=index)
        no_traceback(answer)
        assert answer.returncode == 0 and answer.stdout.splitlines()[0] == SEED_ANSWER
        if mounted:
            for name in ("filler",):
                (index / name).unlink()
            filler.unlink(missing_ok=True)
        rerun = qa("index", corpus=corpus_dir, index=index)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert rerun.stdout.startswith("42 articles"), rerun.stdout


def test_a_garbled_database_is_moved_aside_and_rebuilt(corpus_dir: Path, tmp_path: Path):
    index = tmp_path / "index"
    assert qa("index", corpus=corpus_dir, index=index).returncode == 0
    editor = CorpusEditor(corpus_dir, index / "audit.jsonl", 1_000_000)
    editor.delete("us-gives-colombia-major-non-nato-ally-status.txt", "ed")  # the trash and the audit log...
    assert qa("index", corpus=corpus_dir, index=index).returncode == 0

    def garble() -> None:
        db = index / "qa.db"
        with open(db, "r+b") as fh:
            fh.seek(db.stat().st_size // 2)
            fh.write(os.urandom(4096))

    garble()
    asked = qa("ask", SEED_QUESTION, corpus=corpus_dir, index=index)  # waits for the rebuild, as a first build
    no_traceback(asked)
    assert asked.returncode == 0 and asked.stdout.splitlines()[0] == SEED_ANSWER
    assert "moved to" in asked.stderr
    garble()
    built = qa("index", corpus=corpus_dir, index=index)
    no_traceback(built)
    assert built.returncode == 0 and "the index was damaged" in built.stdout
    asides = sorted(index.glob("damaged-*"))
    assert len(asides) == 2 and all((a / "qa.db").is_file() and (a / "why.txt").is_file() for a in asides)
    assert [r["action"] for r in editor.audit()] == ["delete"], "...survive the rebuilds"
    assert [i.name for i in editor.trash()] == ["us-gives-colombia-major-non-nato-ally-status.txt"]
    assert qa("ask", SEED_QUESTION, corpus=corpus_dir, index=index).stdout.splitlines()[0] == SEED_ANSWER


def test_a_server_started_on_a_damaged_index_rebuilds_it_and_answers(corpus_dir: Path, make_pipeline,
                                                                     tmp_path: Path):
    make_pipeline(corpus_dir).build_index()
    db = tmp_path / "index" / "qa.db"
    db.write_bytes(db.read_bytes()[:4096] + os.urandom(db.stat().st_size - 4096))
    pipe = make_pipeline(corpus_dir, watch_seconds=0.2)  # a server: it watches the folder from the start
    pipe.watch()
    said = set()
    try:
        for _ in range(300):  # the watcher's first build or the first question finds the damage
            try:
                if pipe.ask(SEED_QUESTION).text == SEED_ANSWER:
                    break
            except StoreError as exc:  # meanwhile: "being rebuilt" (or "no index yet"), never anything else
                said.add("being rebuilt" if "being rebuilt" in str(exc) else "no index yet")
                time.sleep(0.2)
        else:
            pytest.fail("the index was not rebuilt")
        assert said <= {"being rebuilt", "no index yet"}
        assert list((tmp_path / "index").glob("damaged-*/qa.db")), "the damaged database is kept aside"
    finally:
        pipe.stop_watching()


def test_damage_found_by_a_question_in_a_server_is_rebuilt_in_the_background(corpus_dir: Path, make_pipeline,
                                                                             tmp_path: Path):
    pipe = make_pipeline(corpus_dir, watch_seconds=30)
    pipe.ensure_index()
    pipe.watch()
    try:
        segment = next((tmp_path / "index" / "segments").glob("seg-*.faiss"))
        segment.write_bytes(segment.read_bytes()[:100])  # what a question's snapshot load would find
        with pytest.raises(StoreError, match="being rebuilt"):
            pipe.recover(IndexDamaged(f"index segment {segment.name} is truncated"))
        pipe._rebuilding.join(timeout=120)
        assert pipe.ask(SEED_QUESTION).text == SEED_ANSWER
        assert list((tmp_path / "index").glob("damaged-*/segments"))
    finally:
        pipe.stop_watching()


def test_an_index_folder_deleted_under_a_server_is_built_again(corpus_dir: Path, make_pipeline, tmp_path: Path):
    import shutil

    messages: list[str] = []
    pipe = make_pipeline(corpus_dir, watch_seconds=0.2)
    pipe.log = pipe.watcher.log = messages.append
    pipe.ensure_index()
    pipe.watch()
    time.sleep(2)  # the watcher's first look at the folder (nothing to do) is over
    try:
        (tmp_path / "index").rename(tmp_path / "gone")  # gone at once, as `rm -r` ends
        shutil.rmtree(tmp_path / "gone", ignore_errors=True)
        for _ in range(600):
            if any("the index is gone" in m for m in messages) and any("index updated" in m for m in messages):
                break
            time.sleep(0.2)
        assert any("the index is gone" in m for m in messages), messages
        assert pipe.ask(SEED_QUESTION).text == SEED_ANSWER
    finally:
        pipe.stop_watching()


def test_a_read_only_index_folder_is_still_asked(corpus_dir: Path, tmp_path: Path):
    index = tmp_path / "index"
    with small_disk(index, 5000) as mounted:
        if not mounted:
            pytest.skip("no file system can be mounted here (tmpfs needs root)")
        assert qa("index", corpus=corpus_dir, index=index).returncode == 0
        assert subprocess.run(["mount", "-o", "remount,ro", str(index)]).returncode == 0
        answer = qa("ask", SEED_QUESTION, corpus=corpus_dir, index=index)
        no_traceback(answer)
        assert answer.returncode == 0 and answer.stdout.splitlines()[0] == SEED_ANSWER
        (corpus_dir / "town-1.txt").write_text(_article(1))
        out = qa("index", corpus=corpus_dir, index=index)
        no_traceback(out)
        assert out.returncode == 2 and "cannot be written" in out.stderr.strip().splitlines()[-1]


def test_an_upload_onto_a_full_disk_adds_nothing_and_leaves_nothing(tmp_path: Path, record_property):
    corpus = tmp_path / "corpus"
    with small_disk(corpus, 200) as mounted:
        if not mounted:
            pytest.skip("no file system can be mounted here (tmpfs needs root)")
        record_property("disk", "tmpfs")
        editor = CorpusEditor(corpus, tmp_path / "index" / "audit.jsonl", 10_000_000)
        editor.add_files([("a.txt", b"Alpha\n\nThe alpha text.")], "ed")
        filler = fill(corpus, leave=4096)
        with pytest.raises(DiskFullError, match=f"the disk holding {corpus} is full .*nothing was added"):
            editor.add_files([("big.txt", b"Big\n\n" + b"word " * 200_000)], "ed")
        assert sorted(p.name for p in corpus.iterdir()) == [".trash", "a.txt", "filler"], "no staged file left"
        filler.unlink()
        assert editor.add_files([("big.txt", b"Big\n\nSmall now.")], "ed").files == ["big.txt"]


def test_a_full_audit_log_never_keeps_half_a_record(tmp_path: Path):
    index = tmp_path / "index"
    with small_disk(index, 64) as mounted:
        if not mounted:
            pytest.skip("no file system can be mounted here (tmpfs needs root)")
        editor = CorpusEditor(tmp_path / "corpus", index / "audit.jsonl", 10_000_000)
        editor.add_files([("a.txt", b"Alpha\n\nThe alpha text.")], "ed")
        fill(index, leave=0)
        with pytest.raises(DiskFullError, match="audit log.*was made but is not in"):
            editor.add_files([("b.txt", b"Beta\n\nThe beta text.")], "ed" * 4000)
        assert [r["file"] for r in editor.audit()] == ["a.txt"]  # the log still reads, whole records only


def test_an_unreadable_corpus_file_is_skipped_with_the_reason(corpus_dir: Path, make_pipeline, monkeypatch):
    (corpus_dir / "locked.txt").write_text(_article(3))
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "locked.txt":  # root reads any file, whatever its mode: refused as a user would be
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    report = make_pipeline(corpus_dir).build_index()
    assert [(s.path, s.reason) for s in report.skipped] == [("locked.txt", "unreadable: Permission denied")]
    assert report.articles_total == 2
