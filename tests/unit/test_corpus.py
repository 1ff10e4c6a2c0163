"""Reading articles: every supported format, and bad files skipped with a reason."""

from __future__ import annotations

import json
from pathlib import Path

from qa.ingest.files import read_corpus


def test_seed_corpus_reads_with_titles():
    scan = read_corpus(Path(__file__).resolve().parents[2] / "corpus")
    assert not scan.skipped
    titles = {a.id: a.title for a in scan.articles}
    assert titles["us-gives-colombia-major-non-nato-ally-status"] == "US Gives Colombia Major Non-NATO Ally Status"
    assert len(scan.articles) == 2


def test_formats(tmp_path: Path):
    (tmp_path / "plain.txt").write_text("Plain title\n\nThe body says hello.\n")
    (tmp_path / "notes.md").write_text("# Markdown title\n\nSome *text* here.\n")
    (tmp_path / "page.html").write_text(
        "<html><head><title>Page title</title><script>var secret = 1;</script></head>"
        "<body><nav>Home | About</nav><h1>Heading</h1><p>First paragraph.</p><p>Second &amp; last.</p>"
        "<footer>Copyright</footer></body></html>"
    )
    (tmp_path / "one.json").write_text(json.dumps(
        {"title": "JSON title", "text": "JSON body.", "url": "https://example.org/a", "date": "2022-03-10"}))
    (tmp_path / "many.jsonl").write_text(
        json.dumps({"title": "A", "text": "Alpha."}) + "\n" + json.dumps({"title": "B", "text": "Beta."}) + "\n")
    scan = read_corpus(tmp_path)
    assert not scan.skipped
    by_id = {a.id: a for a in scan.articles}
    assert by_id["plain"].title == "Plain title"
    assert by_id["plain"].text == "Plain title\n\nThe body says hello.\n"  # kept as is: offsets stay true
    assert by_id["notes"].title == "Markdown title"
    page = by_id["page"]
    assert page.title == "Heading"  # the headline, as the page reader (trafilatura) reads it over <title>
    assert "First paragraph." in page.text and "Second & last." in page.text
    assert "secret" not in page.text  # page furniture on a real page: tests/unit/test_pages.py
    assert by_id["one"].url == "https://example.org/a" and by_id["one"].date == "2022-03-10"
    assert by_id["many-1"].title == "A" and by_id["many-2"].text == "Beta."


def test_bad_files_are_skipped_with_reason(tmp_path: Path):
    (tmp_path / "good.txt").write_text("Good article\nIt is fine.")
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes("UTF-16 title\nBody text.".encode("utf-16"))
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "big.txt").write_text("x" * 2000)
    scan = read_corpus(tmp_path, max_bytes=1000)
    reasons = {Path(s.path).name: s.reason for s in scan.skipped}
    assert {a.id for a in scan.articles} == {"good", "utf16", "latin1"}
    assert {a.id: a for a in scan.articles}["latin1"].text.startswith("Café crème")
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["image.txt"]
    (tmp_path / "shift.txt").write_bytes(b"\x81\x90\x9d\x8d" * 4)  # undefined in Windows-1252
    reasons = {Path(s.path).name: s.reason for s in read_corpus(tmp_path, max_bytes=1000).skipped}
    assert "neither UTF-8 nor Windows-1252" in reasons["shift.txt"]
    assert "unsupported file type .csv" in reasons["data.csv"]
    assert "invalid JSON" in reasons["broken.json"]
    assert "too large" in reasons["big.txt"] and "1,000" in reasons["big.txt"]


def test_odd_names_and_duplicate_texts(tmp_path: Path):
    (tmp_path / "Café news 2024.txt").write_text("Café opens\nThe café on the corner opened today.")
    (tmp_path / "café copy.md").write_text("Café opens\n\nThe café  on the corner opened today.\n")
    scan = read_corpus(tmp_path)
    assert [a.id for a in scan.articles] == ["Café news 2024"]
    assert "same text as" in scan.skipped[0].reason and scan.skipped[0].path.endswith("café copy.md")


def test_symlink_outside_corpus_is_skipped(tmp_path: Path):
    outside = tmp_path / "secret.txt"
    outside.write_text("Secret\nDo not index me.")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "link.txt").symlink_to(outside)
    scan = read_corpus(corpus)
    assert not scan.articles
    assert "outside the corpus" in scan.skipped[0].reason
