"""The index on disk: real embeddings, incremental updates, deletions, forced rebuilds, damage detection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CNN_ARTICLE
from qa.index import IndexStoreError, load_index

NEW_ARTICLE = """Lisbon opens a floating library on the Tagus

The city of Lisbon opened a floating library on a converted ferry on Monday. The library, named Maré,
holds 12,000 books and is run by the novelist Teresa Quintela. Visitors board at the Cais do Sodré pier.
The ferry sails twice a day and entry costs nothing.
"""


def test_build_writes_a_real_index(corpus_dir: Path, make_pipeline, tmp_path: Path):
    pipe = make_pipeline(corpus_dir)
    report = pipe.build_index()
    assert len(report.added) == 2 and report.passages_embedded == report.passages_total > 2
    snap = load_index(tmp_path / "index")
    assert snap.vectors.ntotal == report.passages_total
    assert {p.article_id for p in snap.passages.values()} == {CNN_ARTICLE, "us-gives-colombia-major-non-nato-ally-status"}
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["embedding_model"] == "all-MiniLM-L6-v2" and manifest["index_type"] == "IDMap2,Flat"
    assert pipe.build_index().passages_embedded == 0  # nothing changed, nothing embedded


def test_incremental_add_embeds_only_the_new_article(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    first = pipe.build_index()
    (corpus_dir / "lisbon-floating-library.txt").write_text(NEW_ARTICLE)
    report = pipe.build_index()
    new_passages = [p for p in pipe.retriever().snapshot.passages.values()
                    if p.article_id == "lisbon-floating-library"]
    assert report.added == ["lisbon-floating-library"] and report.unchanged == 2
    assert report.passages_embedded == len(new_passages) >= 1
    assert report.passages_total == first.passages_total + len(new_passages)
    assert report.full_rebuild is None
    answer = pipe.ask("Who runs the floating library?")
    assert answer.article == "lisbon-floating-library"
    assert "Teresa Quintela" in answer.text


def test_changed_and_deleted_articles(corpus_dir: Path, make_pipeline):
    pipe = make_pipeline(corpus_dir)
    pipe.build_index()
    other = corpus_dir / "us-gives-colombia-major-non-nato-ally-status.txt"
    other.unlink()
    cnn = corpus_dir / f"{CNN_ARTICLE}.txt"
    cnn.write_text(cnn.read_text() + "\nAn added closing sentence about the meeting.\n")
    report = pipe.build_index()
    assert report.removed == ["us-gives-colombia-major-non-nato-ally-status"]
    assert report.changed == [CNN_ARTICLE]
    snap = pipe.retriever().snapshot
    assert {p.article_id for p in snap.passages.values()} == {CNN_ARTICLE}
    assert snap.vectors.ntotal == len(snap.passages) == report.passages_total == report.passages_embedded


def test_changed_settings_force_a_full_rebuild(corpus_dir: Path, make_pipeline):
    make_pipeline(corpus_dir).build_index()
    report = make_pipeline(corpus_dir, embedding_model="sentence-transformers/all-MiniLM-L6-v2").build_index()
    assert report.full_rebuild and "embedding model changed" in report.full_rebuild
    assert report.passages_embedded == report.passages_total
    report = make_pipeline(corpus_dir, embedding_model="sentence-transformers/all-MiniLM-L6-v2",
                           passage_tokens=120).build_index()
    assert report.full_rebuild and "chunking settings changed" in report.full_rebuild


def test_damaged_index_is_detected_and_rebuilt(corpus_dir: Path, make_pipeline, tmp_path: Path):
    pipe = make_pipeline(corpus_dir)
    pipe.build_index()
    index_dir = tmp_path / "index"
    vectors = next(index_dir.glob("vectors.*.faiss"))
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(IndexStoreError, match="truncated or corrupted.*qa index --rebuild"):
        load_index(index_dir)
    report = pipe.build_index()
    assert report.full_rebuild and "truncated" in report.full_rebuild
    assert load_index(index_dir).vectors.ntotal == report.passages_total


def test_failed_build_keeps_previous_index(corpus_dir: Path, make_pipeline, tmp_path: Path, monkeypatch):
    pipe = make_pipeline(corpus_dir)
    before = pipe.build_index()
    (corpus_dir / "lisbon-floating-library.txt").write_text(NEW_ARTICLE)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while embedding")

    monkeypatch.setattr(pipe.embedder, "encode", crash)
    with pytest.raises(RuntimeError, match="simulated"):
        pipe.build_index()
    snap = load_index(tmp_path / "index")
    assert snap.vectors.ntotal == before.passages_total
    assert "lisbon-floating-library" not in snap.articles


def test_bad_files_are_reported_and_the_rest_indexed(corpus_dir: Path, make_pipeline):
    (corpus_dir / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (corpus_dir / "empty.md").write_text("")
    messages: list[str] = []
    pipe = make_pipeline(corpus_dir)
    pipe.log = messages.append
    pipe.indexer.log = messages.append
    report = pipe.build_index()
    assert report.articles_total == 2
    assert {Path(s.path).name for s in report.skipped} == {"broken.txt", "empty.md"}
    assert any("broken.txt" in m for m in messages) and any("empty.md: empty file" in m for m in messages)


def test_unchanged_files_are_not_read_and_duplicates_come_back(corpus_dir: Path, make_pipeline, monkeypatch):
    import qa.corpus

    pipe = make_pipeline(corpus_dir)
    (corpus_dir / "lisbon.txt").write_text(NEW_ARTICLE)
    (corpus_dir / "lisbon2.md").write_text(NEW_ARTICLE)
    report = pipe.build_index()
    assert [Path(s.path).name for s in report.skipped] == ["lisbon2.md"]
    assert "same text as" in report.skipped[0].reason

    read = []
    real = qa.corpus.read_file
    monkeypatch.setattr(qa.corpus, "read_file", lambda path, *a, **k: read.append(path.name) or real(path, *a, **k))
    (corpus_dir / "lisbon.txt").unlink()
    report = pipe.build_index()
    assert read == ["lisbon2.md"], "only the previously skipped file is read again"
    assert report.removed == ["lisbon"] and report.added == ["lisbon2"] and report.unchanged == 2
    assert pipe.ask("Who runs the floating library?").article == "lisbon2"
