"""The archive: every change to the corpus folder checked first, nothing deleted for good but by purge."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from qa.ingest.editor import CorpusEditor
from qa.ingest.files import ArticleError, read_corpus


def _archive(tmp_path: Path, changes: list[str] | None = None) -> CorpusEditor:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    on_change = (lambda files: changes.append("reindex")) if changes is not None else None
    return CorpusEditor(corpus, tmp_path / "index" / "audit.jsonl", max_bytes=1000, on_change=on_change)


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under the folder, hidden ones and the trash included, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_uploads_are_validated_before_anything_is_written(tmp_path: Path):
    changes: list[str] = []
    archive = _archive(tmp_path, changes)
    cases = {
        "../escape.txt": b"Title\nText",
        "sub/../../escape.txt": b"Title\nText",
        "sub/.hidden/a.txt": b"Title\nText",
        "/etc/passwd.txt": b"Title\nText",
        ".hidden.txt": b"Title\nText",
        "virus.exe": b"MZ",
        "big.txt": b"x" * 2000,
        "empty.txt": b"",
        "undecodable.txt": b"\x81\x90\x9d\x8d" * 4,
    }
    change = archive.add_files(cases.items(), "ed")
    assert len(change.refused) == len(cases) and not change.files
    assert any("big.txt" in r and "too large" in r for r in change.refused)
    assert _files(archive.corpus_dir) == {} and not (tmp_path / "escape.txt").exists()
    assert changes == [] and archive.audit() == []  # nothing changed: no re-index, no audit record

    change = archive.add_files([("fine.md", b"# Fine title\n\nBody."), ("bad.txt", b"")], "ed")
    assert change.files == ["fine.md"] and change.titles == ["Fine title"] and len(change.refused) == 1
    assert changes == ["reindex"]
    pasted = archive.add_text("Fine title", "Pasted body.", "ed", url="https://example.org/p")
    assert pasted.files == ["fine-title.json"]
    again = archive.add_text("Fine title", "Other body.", "ed")  # a taken name gets a number, never replaces
    assert again.files == ["fine-title-2.txt"]
    with pytest.raises(ArticleError, match="title"):
        archive.add_text("  ", "text", "ed")
    with pytest.raises(ArticleError):
        archive.delete("../corpus/fine-title.json", "ed")
    assert sorted(p.name for p in archive.corpus_dir.iterdir() if not p.name.startswith(".")) == \
        ["fine-title-2.txt", "fine-title.json", "fine.md"]


def test_delete_moves_to_the_trash_which_the_indexer_never_reads(tmp_path: Path):
    archive = _archive(tmp_path)
    archive.add_files([("a.txt", b"Alpha\n\nThe alpha text.")], "ed")
    change = archive.delete("a.txt", "alice@10.0.0.7")
    assert not (archive.corpus_dir / "a.txt").exists()
    [item] = archive.trash()
    assert change.trashed == [item] and item.name == "a.txt" and item.editor == "alice@10.0.0.7"
    assert item.reason == "deleted" and item.path.read_bytes() == b"Alpha\n\nThe alpha text."
    assert abs(item.deleted_at - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert read_corpus(archive.corpus_dir).articles == []  # the trash is invisible to the indexer
    with pytest.raises(ArticleError, match="no article file"):
        archive.delete("a.txt", "ed")


def test_replacing_upload_and_restore_keep_every_version(tmp_path: Path):
    archive = _archive(tmp_path)
    archive.add_files([("a.txt", b"Version one\n\nFirst.")], "ed")
    change = archive.add_files([("a.txt", b"Version two\n\nSecond.")], "ed")
    assert [t.reason for t in change.trashed] == ["replaced by an upload"]
    assert (archive.corpus_dir / "a.txt").read_bytes() == b"Version two\n\nSecond."

    change = archive.restore("a.txt", "ed")  # the newest trashed version: one; two goes to the trash
    assert (archive.corpus_dir / "a.txt").read_bytes() == b"Version one\n\nFirst."
    assert change.titles == ["Version one"] and [t.reason for t in change.trashed] == ["replaced by a restore"]
    [item] = archive.trash()
    assert item.path.read_bytes() == b"Version two\n\nSecond."
    archive.restore(item.id, "ed")  # by trash id
    assert (archive.corpus_dir / "a.txt").read_bytes() == b"Version two\n\nSecond."
    with pytest.raises(ArticleError, match="nothing named 'b.txt' in the trash"):
        archive.restore("b.txt", "ed")


def test_purge_empties_the_trash_by_age(tmp_path: Path):
    archive = _archive(tmp_path)
    archive.add_files([("old.txt", b"Old\n\nText one."), ("new.txt", b"New\n\nText two.")], "ed")
    archive.delete("old.txt", "ed")
    archive.delete("new.txt", "ed")
    old = next(i for i in archive.trash() if i.name == "old.txt")
    info = json.loads((old.path.parent / "info.json").read_text())
    info["deleted_at"] = (datetime.now(timezone.utc) - timedelta(days=40)).isoformat()
    (old.path.parent / "info.json").write_text(json.dumps(info))

    with pytest.raises(ValueError, match="0 days or more"):
        archive.purge("ed", older_than_days=-1)
    assert archive.purge("ed", older_than_days=30).files == ["old.txt"]
    assert [i.name for i in archive.trash()] == ["new.txt"]
    assert archive.purge("ed").files == ["new.txt"]
    assert archive.trash() == [] and [p.name for p in archive.trash_dir.iterdir()] == [".lock"]


def test_audit_log_records_time_editor_action_file(tmp_path: Path):
    archive = _archive(tmp_path)
    archive.add_files([("a.txt", b"A\n\nText.")], "bob@10.0.0.2")
    archive.add_files([("a.txt", b"A2\n\nText two.")], "bob@10.0.0.2")
    archive.delete("a.txt", "carol@10.0.0.3")
    archive.restore("a.txt", "carol@10.0.0.3")
    archive.purge("root@cli")
    log = archive.audit()
    assert [(r["editor"], r["action"], r["file"]) for r in log] == [
        ("bob@10.0.0.2", "add", "a.txt"), ("bob@10.0.0.2", "replace", "a.txt"),
        ("carol@10.0.0.3", "delete", "a.txt"), ("carol@10.0.0.3", "restore", "a.txt"),
        ("root@cli", "purge", "a.txt")]
    assert all(datetime.fromisoformat(r["time"]).tzinfo is not None for r in log)
    assert archive.audit_log.parent == tmp_path / "index"


def test_an_upload_may_name_a_sub_folder_and_comes_back_there_from_the_trash(tmp_path: Path):
    editor = _archive(tmp_path)
    change = editor.add_files([("2022/03/story.txt", b"A story\n\nIt happened.")], "ed")
    assert change.files == ["2022/03/story.txt"] and (editor.corpus_dir / "2022/03/story.txt").is_file()
    editor.delete("2022/03/story.txt", "ed")
    assert not (editor.corpus_dir / "2022/03/story.txt").exists()
    [item] = editor.trash()
    assert item.name == "2022/03/story.txt"
    editor.restore("2022/03/story.txt", "ed")
    assert (editor.corpus_dir / "2022/03/story.txt").read_bytes() == b"A story\n\nIt happened."
    [article] = read_corpus(editor.corpus_dir).articles
    assert article.id == "2022/03/story"
