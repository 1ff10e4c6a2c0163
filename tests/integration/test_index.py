"""Indexing into the store with the real models: incremental updates, deletions, forced rebuilds,
damage, bad files, and the four v0.1 store bugs, all through the public API."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import CNN_ARTICLE, ROOT, SEED_QUESTION
from qa.errors import StoreError
from qa.store import Store, Writer
from qa.store.schema import FORMAT

NEW_ARTICLE = """Lisbon opens a floating library on the Tagus

The city of Lisbon opened a floating library on a converted ferry on Monday. The library, named Maré,
holds 12,000 books and is run by the novelist Teresa Quintela. Visitors board at the Cais do Sodré pier.
The ferry sails twice a day and entry costs nothing.
"""
OTHER = "us-gives-colombia-major-non-nato-ally-status"


def _articles(store: Store) -> set[str]:
    snap = store.snapshot()
    try:
        return {a.id for a in snap.articles()}
    finally:
        snap.close()


def test_build_writes_a_real_index(corpus_dir: Path, make_pipeline, tmp_path: Path):
    pipe = make_pipeline(corpus_dir)
    report = pipe.build_index()
    assert sorted(report.added) == [CNN_ARTICLE, OTHER]
    assert report.passages_embedded == report.passages_total > 2
    assert (tmp_path / "index" / "qa.db").exists() and list((tmp_path / "index" / "segments").glob("seg-*.faiss"))
    snap = pipe.store.snapshot()
    assert snap.passage_count == report.passages_total and snap.article_count == 2
    assert sum(index.ntotal for _, index in snap.segments) == report.passages_total
    assert json.loads(snap.state["settings"])["embedding_model"] == "all-MiniLM-L6-v2"
    again = pipe.build_index()
    assert again.passages_embedded == 0 and again.commits == 0, "nothing changed: nothing embedded or committed"


def test_incremental_add_embeds_only_the_new_article(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    first = pipe.build_index()
    (corpus_dir / "lisbon-floating-library.txt").write_text(NEW_ARTICLE)
    report = pipe.build_index()
    new_passages = pipe.retriever().snapshot.article_passages("lisbon-floating-library")
    assert report.added == ["lisbon-floating-library"] and report.unchanged == 2
    assert report.passages_embedded == len(new_passages) >= 1
    assert report.passages_total == first.passages_total + len(new_passages)
    assert report.full_rebuild is None and report.generation == first.generation + 1
    answer = pipe.ask("Who runs the floating library?")
    assert answer.article == "lisbon-floating-library" and "Teresa Quintela" in answer.text


def test_only_named_files_are_looked_at(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    pipe.build_index()
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    (corpus_dir / f"{CNN_ARTICLE}.txt").unlink()
    report = pipe.build_index(files=["lisbon.txt"])
    assert report.added == ["lisbon"] and not report.removed, "the deleted file is not looked at"
    assert report.articles_total == 3
    report = pipe.build_index(files=[f"{CNN_ARTICLE}.txt"])
    assert report.removed == [CNN_ARTICLE] and report.articles_total == 2


def test_changed_and_deleted_articles(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    pipe.build_index()
    (corpus_dir / f"{OTHER}.txt").unlink()
    cnn = corpus_dir / f"{CNN_ARTICLE}.txt"
    cnn.write_text(cnn.read_text() + "\nAn added closing sentence about the meeting.\n")
    report = pipe.build_index()
    assert report.removed == [OTHER] and report.changed == [CNN_ARTICLE]
    snap = pipe.retriever().snapshot
    assert {a.id for a in snap.articles()} == {CNN_ARTICLE}
    live = sum(index.ntotal for _, index in snap.segments) - len(snap.hidden)
    assert live == snap.passage_count == report.passages_total == report.passages_embedded + report.passages_reused
    assert report.passages_embedded < report.passages_total  # passages the edit did not touch kept their vectors


def test_changed_settings_force_a_full_rebuild(corpus_dir: Path, make_pipeline):
    make_pipeline(corpus_dir).build_index()
    report = make_pipeline(corpus_dir, embedding_model="sentence-transformers/all-MiniLM-L6-v2").build_index()
    assert report.full_rebuild and "embedding model changed" in report.full_rebuild
    assert report.passages_embedded == report.passages_total
    report = make_pipeline(corpus_dir, embedding_model="sentence-transformers/all-MiniLM-L6-v2",
                           passage_tokens=120).build_index()
    assert report.full_rebuild and "chunking settings changed" in report.full_rebuild


def test_damaged_segment_is_detected_and_rebuilt(corpus_dir: Path, make_pipeline, tmp_path: Path):
    pipe = make_pipeline(corpus_dir)
    pipe.build_index()
    segment = next((tmp_path / "index" / "segments").glob("seg-*.faiss"))
    segment_bytes = segment.read_bytes()
    segment.write_bytes(segment_bytes[:100])
    with pytest.raises(StoreError, match="truncated or corrupted.*`qa index` moves it aside and rebuilds"):
        Store(tmp_path / "index").snapshot()
    report = pipe.build_index()
    assert report.full_rebuild and "damaged" in report.full_rebuild
    [aside] = (tmp_path / "index").glob("damaged-*")
    assert (aside / "segments" / segment.name).read_bytes() == segment_bytes[:100], "kept for inspection"
    assert pipe.ask(SEED_QUESTION).text == "material and supply loans"


def test_failed_build_keeps_previous_index(corpus_dir: Path, make_pipeline, tmp_path: Path, monkeypatch):
    pipe = make_pipeline(corpus_dir)
    before = pipe.build_index()
    (corpus_dir / "lisbon-floating-library.txt").write_text(NEW_ARTICLE)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while embedding")

    monkeypatch.setattr(pipe.embedder, "encode", crash)
    with pytest.raises(RuntimeError, match="simulated"):
        pipe.build_index()
    store = Store(tmp_path / "index")
    assert store.generation() == before.generation
    assert _articles(store) == {CNN_ARTICLE, OTHER}
    monkeypatch.undo()
    assert pipe.build_index().added == ["lisbon-floating-library"], "the rerun picks the article up"


def test_bad_files_are_reported_and_the_rest_indexed(corpus_dir: Path, make_pipeline):
    (corpus_dir / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (corpus_dir / "empty.md").write_text("")
    messages: list[str] = []
    pipe = make_pipeline(corpus_dir)
    pipe.log = messages.append
    pipe.indexer.log = messages.append
    report = pipe.build_index()
    assert report.articles_total == 2
    assert {s.path for s in report.skipped} == {"broken.txt", "empty.md"}
    assert any("broken.txt" in m for m in messages) and any("empty.md: empty file" in m for m in messages)
    assert dict(pipe.retriever().snapshot.skipped()) == {"broken.txt": "binary file, not text",
                                                        "empty.md": "empty file"}


def test_unchanged_files_are_not_read_and_duplicates_come_back(corpus_dir: Path, make_pipeline, monkeypatch):
    import qa.indexing.indexer

    pipe = make_pipeline(corpus_dir)
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    (corpus_dir / "lisbon2.md").write_text(NEW_ARTICLE)
    report = pipe.build_index()
    assert [s.path for s in report.skipped] == ["lisbon2.md"]
    assert "same text as lisbon.txt" in report.skipped[0].reason

    read = []
    real = qa.indexing.indexer.read_source
    monkeypatch.setattr(qa.indexing.indexer, "read_source", lambda root, path, *a: read.append(path.name) or real(root, path, *a))
    (corpus_dir / "lisbon.txt").unlink()
    report = pipe.build_index()
    assert read == ["lisbon2.md"], "only the previously skipped file is read again"
    assert report.removed == ["lisbon"] and report.added == ["lisbon2"] and report.unchanged == 2
    assert pipe.ask("Who runs the floating library?").article == "lisbon2"


# --- the v0.1 store bugs, through the public API --------------------------------------------------

def test_bug1_rebuild_never_serves_the_old_snapshot(corpus_dir: Path, make_pipeline):
    """v0.1 restarted generations at 1 on a rebuild, so ask() kept a deleted article's answers."""
    pipe = make_pipeline(corpus_dir)
    first = pipe.build_index()
    assert pipe.ask(SEED_QUESTION).article == CNN_ARTICLE
    (corpus_dir / f"{CNN_ARTICLE}.txt").unlink()
    report = pipe.build_index(rebuild=True)
    assert report.generation > first.generation, "generations only ever increase, rebuilds too"
    answer = pipe.ask(SEED_QUESTION)
    assert answer.article != CNN_ARTICLE and all(h.passage.article_id == OTHER for h in answer.passages)
    ids = [p.id for p in pipe.retriever().snapshot.article_passages(OTHER)]
    assert min(ids) >= first.passages_total, "passage ids only ever increase, rebuilds too"


def test_bug2_a_bad_file_never_takes_questions_down(corpus_dir: Path, make_pipeline):
    """v0.1: a JSON article with a lone surrogate made build_index() and every ask() raise."""
    (corpus_dir / "broken.json").write_text('{"title": "Broken", "text": "Emoji cut in half: \\ud83d here."}')
    pipe = make_pipeline(corpus_dir)
    report = pipe.build_index()
    assert [s.path for s in report.skipped] == ["broken.json"]
    assert "lone UTF-16 surrogate" in report.skipped[0].reason
    assert pipe.ask(SEED_QUESTION).text == "material and supply loans"


def test_readers_never_build(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    pipe.ask(SEED_QUESTION)  # the very first question builds the missing index
    generation = pipe.store.generation()
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    pipe._checked = 0.0
    assert pipe.ask("Who runs the floating library?").article != "lisbon"
    assert pipe.store.generation() == generation, "ask() committed nothing"
    pipe.build_index()
    assert pipe.ask("Who runs the floating library?").article == "lisbon"


def test_the_watcher_picks_up_new_articles(corpus_dir: Path, make_pipeline):
    import time

    pipe = make_pipeline(corpus_dir, watch_seconds=0.2)
    pipe.ask(SEED_QUESTION)
    pipe.watch()
    try:
        (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pipe.ask("Who runs the floating library?").article != "lisbon":
            time.sleep(0.3)
        assert pipe.ask("Who runs the floating library?").text == "Teresa Quintela"
    finally:
        pipe.stop_watching()


def test_v01_index_is_detected_and_rebuilt(corpus_dir: Path, make_pipeline, tmp_path: Path):
    index = tmp_path / "index"
    index.mkdir()
    (index / "manifest.json").write_text(json.dumps({"format": 1, "generation": 3}))
    (index / "vectors.3.faiss").write_bytes(b"old vectors")
    (index / "passages.3.jsonl").write_text("{}\n")
    before = {p.name: p.read_bytes() for p in corpus_dir.iterdir()}
    report = make_pipeline(corpus_dir).build_index()
    assert report.full_rebuild and "v0.1 format" in report.full_rebuild
    assert not [p for p in index.iterdir() if p.name.startswith(("manifest", "vectors.", "passages."))]
    assert {p.name: p.read_bytes() for p in corpus_dir.iterdir()} == before, "corpus/ untouched"
    assert report.articles_total == 2


def test_text_moved_between_files_in_one_build_is_kept(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    pipe.build_index()
    (corpus_dir / "a-copy.txt").write_text(NEW_ARTICLE)  # the text moves to a new file...
    (corpus_dir / "lisbon.txt").write_text("Council news\n\nThe council met on Tuesday to discuss parking.\n")
    report = pipe.build_index()  # ...while its old file gets another text, in the same build
    assert not report.skipped and {"a-copy", "lisbon"} <= {a.id for a in pipe.retriever().snapshot.articles()}
    assert pipe.ask("Who runs the floating library?").article == "a-copy"
    again = pipe.build_index()
    assert again.commits == 0, "a settled corpus commits nothing"


def test_targeted_builds_take_paths_and_bring_duplicates_back(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    (corpus_dir / "lisbon2.md").write_text(NEW_ARTICLE)
    (corpus_dir / "empty.md").write_text("")
    assert {s.path for s in pipe.build_index().skipped} == {"lisbon2.md", "empty.md"}
    assert pipe.build_index().commits == 0, "a settled corpus commits nothing"
    (corpus_dir / "mars.txt").write_text("Rover finds ice\n\nThe rover found ice near the Jezero crater.\n")
    report = pipe.build_index(files=[str(corpus_dir / "mars.txt")])
    assert report.added == ["mars"], "a path works too"
    assert report.skipped == [] and report.not_indexed == 2, "skipped files are not read again for nothing"
    assert "2 file(s) not indexed in all" in report.summary()
    (corpus_dir / "lisbon.txt").unlink()
    report = pipe.build_index(files=["lisbon.txt"])
    assert report.removed == ["lisbon"] and report.added == ["lisbon2"], "the duplicate takes its place"


def test_a_duplicate_is_read_again_when_its_original_changes(corpus_dir: Path, make_pipeline, monkeypatch):
    import qa.indexing.indexer

    pipe = make_pipeline(corpus_dir)
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    (corpus_dir / "lisbon2.md").write_text(NEW_ARTICLE)
    (corpus_dir / "empty.md").write_text("")
    pipe.build_index()
    read = []
    real = qa.indexing.indexer.read_source
    monkeypatch.setattr(qa.indexing.indexer, "read_source", lambda root, path, *a: read.append(path.name) or real(root, path, *a))
    (corpus_dir / "mars.txt").write_text("Rover finds ice\n\nThe rover found ice near the Jezero crater.\n")
    assert pipe.build_index().added == ["mars"] and read == ["mars.txt"], "only the changed file is read"
    read.clear()
    (corpus_dir / "lisbon.txt").write_text("Council news\n\nThe council met on Tuesday to discuss parking.\n")
    report = pipe.build_index()
    assert set(read) == {"lisbon.txt", "lisbon2.md"}, "the changed file and its duplicate, not empty.md"
    assert report.changed == ["lisbon"] and report.added == ["lisbon2"] and not report.skipped
    assert pipe.ask("Who runs the floating library?").article == "lisbon2"


def test_an_unreadable_database_is_moved_aside_and_rebuilt(corpus_dir: Path, make_pipeline, tmp_path: Path):
    pipe = make_pipeline(corpus_dir)
    pipe.build_index()
    (tmp_path / "index" / "qa.db").write_bytes(b"not a database at all" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / "index" / f"qa.db{suffix}").unlink(missing_ok=True)
    fresh = make_pipeline(corpus_dir)
    report = fresh.build_index()  # no --rebuild needed: the damage is found and dealt with
    assert report.articles_total == 2 and "damaged" in report.full_rebuild
    [aside] = (tmp_path / "index").glob("damaged-*")
    assert (aside / "qa.db").read_bytes().startswith(b"not a database"), "the damaged file is kept aside"
    assert fresh.ask(SEED_QUESTION).text == "material and supply loans"


@contextmanager
def stopped_while_indexing_the_library(monkeypatch):
    """A build stopped (as by Ctrl-C) when it reaches the library article: the copy takes its original's
    old vectors (Writer.reusable_vectors), so that is where it stops; undone on leaving."""
    real = Writer.reusable_vectors

    def killed_on_the_library(self, passages):
        if any("floating library" in p.text for p in passages):
            raise KeyboardInterrupt("stopped while indexing the library article")
        return real(self, passages)

    with monkeypatch.context() as m:
        m.setattr(Writer, "reusable_vectors", killed_on_the_library)
        yield


def test_a_build_stopped_before_a_duplicate_is_read_again_loses_nothing(corpus_dir: Path, make_pipeline, monkeypatch):
    pipe = make_pipeline(corpus_dir, commit_passages=1)  # every file commits on its own
    (corpus_dir / "a.txt").write_text(NEW_ARTICLE)
    (corpus_dir / "b.txt").write_text(NEW_ARTICLE)
    pipe.build_index()
    (corpus_dir / "a.txt").write_text("Council news\n\nThe council met on Tuesday to discuss parking.\n")
    with stopped_while_indexing_the_library(monkeypatch), pytest.raises(KeyboardInterrupt):
        pipe.build_index()  # stopped while indexing b.txt, after a.txt committed
    report = pipe.build_index()
    assert report.added == ["b"], "b.txt, refused as a copy of a.txt's old text, is read again"
    assert pipe.ask("Who runs the floating library?").article == "b"


def test_two_copies_of_a_changed_original_keep_one_copy(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    for name in ("a.txt", "b.txt", "c.txt"):
        (corpus_dir / name).write_text(NEW_ARTICLE)
    pipe.build_index()
    (corpus_dir / "a.txt").write_text("Council news\n\nThe council met on Tuesday to discuss parking.\n")
    report = pipe.build_index()
    assert report.added == ["b"] and [s.path for s in report.skipped] == ["c.txt"]
    assert "same text as b.txt" in report.skipped[0].reason
    assert pipe.ask("Who runs the floating library?").article == "b"
    assert pipe.build_index().commits == 0, "a settled corpus commits nothing"


def test_a_named_file_refused_as_a_duplicate_is_read_again(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    (corpus_dir / "a.txt").write_text(NEW_ARTICLE)
    (corpus_dir / "b.txt").write_text(NEW_ARTICLE)
    pipe.build_index()
    report = pipe.build_index(files=["b.txt"])
    assert [s.path for s in report.skipped] == ["b.txt"] and "same text as a.txt" in report.skipped[0].reason


def test_a_format_1_store_is_migrated_and_its_duplicates_read_once_more(corpus_dir: Path, make_pipeline, tmp_path: Path):
    import sqlite3

    pipe = make_pipeline(corpus_dir)
    (corpus_dir / "a.txt").write_text(NEW_ARTICLE)
    (corpus_dir / "b.txt").write_text(NEW_ARTICLE)
    pipe.build_index()
    db = sqlite3.connect(tmp_path / "index" / "qa.db")  # as the first store format left it
    db.executescript("DROP TABLE duplicates; DROP INDEX sources_skipped; ALTER TABLE articles DROP COLUMN meta; "
                     "DROP TABLE signatures; DROP TABLE story_bands; "
                     "PRAGMA user_version = 1;")
    db.close()
    fresh = make_pipeline(corpus_dir)
    report = fresh.build_index()
    assert [s.path for s in report.skipped] == ["b.txt"], "read once more, to record its original"
    (corpus_dir / "a.txt").unlink()
    assert fresh.build_index().added == ["b"], "and it takes the original's place when that goes"
    db = sqlite3.connect(tmp_path / "index" / "qa.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT


def test_a_format_1_store_that_already_has_the_duplicates_table_migrates(corpus_dir: Path, make_pipeline,
                                                                        tmp_path: Path):
    import sqlite3

    pipe = make_pipeline(corpus_dir)
    pipe.build_index()
    db = sqlite3.connect(tmp_path / "index" / "qa.db")  # as qa left it when migration 1 held the table
    db.executescript("DROP INDEX sources_unread; ALTER TABLE articles DROP COLUMN meta; DROP TABLE signatures; "
                     "DROP TABLE story_bands; PRAGMA user_version = 1;")
    db.close()
    fresh = make_pipeline(corpus_dir)
    assert fresh.build_index().full_rebuild is None
    assert fresh.ask(SEED_QUESTION).text == "material and supply loans"


def test_a_stopped_targeted_build_is_finished_by_the_next_targeted_one(corpus_dir: Path, make_pipeline, monkeypatch):
    pipe = make_pipeline(corpus_dir, commit_passages=1)
    (corpus_dir / "a.txt").write_text(NEW_ARTICLE)
    (corpus_dir / "c.txt").write_text(NEW_ARTICLE)
    pipe.build_index()
    (corpus_dir / "a.txt").write_text("Council news\n\nThe council met on Tuesday to discuss parking.\n")
    with stopped_while_indexing_the_library(monkeypatch), pytest.raises(KeyboardInterrupt):
        pipe.build_index(files=["a.txt"])  # what an edit in the chat or `qa index a.txt` runs; stopped at c.txt
    assert pipe.build_index(files=["a.txt"]).added == ["c"], "the copy left unread is read by the next one"
    assert pipe.build_index(files=["a.txt"]).commits == 0


def test_a_build_in_waves_of_one_file_keeps_what_a_build_in_one_wave_keeps(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    pipe.indexer.wave_files = 1  # each file read and indexed before the next is read
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    (corpus_dir / "lisbon-copy.txt").write_text(NEW_ARTICLE)
    report = pipe.build_index()
    assert [s.path for s in report.skipped] == ["lisbon.txt"], "the copy read first keeps the text"
    assert report.articles_total == 3
    (corpus_dir / "a-moved.txt").write_text(NEW_ARTICLE)  # the text moves to a file read before its old one
    (corpus_dir / "lisbon-copy.txt").write_text("Council news\n\nThe council met on Tuesday to discuss parking.\n")
    report = pipe.build_index()
    live = {a.id for a in pipe.retriever().snapshot.articles()}
    holders = live & {"a-moved", "lisbon"}
    assert "lisbon-copy" in live and len(holders) == 1, "the text is kept, once"
    assert len(report.skipped) == 1 and report.articles_total == 4
    assert pipe.ask("Who runs the floating library?").article in holders
    assert pipe.build_index().commits == 0, "a settled corpus commits nothing"


def test_the_base_stores_its_vectors_as_asked_until_asked_otherwise(corpus_dir: Path, make_pipeline):
    def base_kind(pipe) -> str:
        return next(row.kind for row, _ in pipe.retriever().snapshot.segments if row.role == "base")

    data = json.loads((ROOT / "bench/data/xquad-dev.json").read_text(encoding="utf-8"))["data"]
    for n, (title, text) in enumerate([(a["title"], p["context"]) for a in data for p in a["paragraphs"]][:60]):
        (corpus_dir / f"x{n:02d}.txt").write_text(f"{title} ({n})\n\n{text}\n", encoding="utf-8")
    pipe = make_pipeline(corpus_dir, index_vectors="sq8", flat_max_passages=20)  # qa index --vectors sq8; IVF early
    pipe.build_index()
    assert base_kind(pipe).startswith("IVF") and base_kind(pipe).endswith(",SQ8")
    assert pipe.ask(SEED_QUESTION).text == "material and supply loans"
    later = make_pipeline(corpus_dir, flat_max_passages=20)  # a later `qa index` without --vectors keeps them
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    assert later.build_index(compact=True).merges == ["compaction requested"] and base_kind(later).endswith(",SQ8")
    assert later.ask("Who runs the floating library?").text == "Teresa Quintela"
    back = make_pipeline(corpus_dir, index_vectors="float32", flat_max_passages=20)
    assert back.build_index().merges == ["the base's vectors are stored as Flat, not SQ8"]
    assert base_kind(back).endswith(",Flat")
    with pytest.raises(ValueError, match="bad value 'pq48' for setting index_vectors .*use one of '', float32, sq8"):
        make_pipeline(corpus_dir, index_vectors="pq48").build_index()


def test_the_base_stays_in_the_parts_asked_for_until_asked_otherwise(corpus_dir: Path, make_pipeline):
    def base_parts(pipe) -> int:
        return sum(1 for row, _ in pipe.retriever().snapshot.segments if row.role == "base")

    pipe = make_pipeline(corpus_dir, index_shards=2)  # qa index --shards 2
    pipe.build_index()
    assert base_parts(pipe) == 2
    later = make_pipeline(corpus_dir)  # a later `qa index` without --shards keeps the parts
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    assert later.build_index(compact=True).merges == ["compaction requested"]
    assert base_parts(later) == 2
    assert later.ask("Who runs the floating library?").text == "Teresa Quintela"
    assert later.ask(SEED_QUESTION).text == "material and supply loans"
    joined = make_pipeline(corpus_dir, index_shards=1)
    assert joined.build_index().merges == ["the base is written in 1 part(s), not 2"] and base_parts(joined) == 1
