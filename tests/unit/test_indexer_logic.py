"""The indexer and the retriever with a deterministic hashed embedder (no model): incremental builds add,
change and forget exactly what changed, duplicates are refused with the reason, and the fused retrieval
equals dense search by brute force fused with the keyword ranking."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.config import DEFAULT_READER
from qa.indexing.indexer import Indexer
from qa.ingest.chunking import Chunker
from qa.reading.weights import load_tokenizer
from qa.retrieval.embedding import TextEncoder, passage_text
from qa.retrieval.fusion import fuse
from qa.retrieval.retriever import Retriever
from qa.store import Store

DIM = 64


class HashEmbedder(TextEncoder):
    """Each word hashed to a signed unit direction; a text is the normalised sum of its words."""

    dim = DIM

    def encode(self, texts: list[str], progress: bool | None = None) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.sha1(word.encode()).digest()[:8], "little")
                out[row, h % DIM] += 1.0 if (h >> 32) & 1 else -1.0
            out[row] /= max(np.linalg.norm(out[row]), 1e-9)
        return out


TOWNS = ["Porto", "Lisbon", "Braga", "Faro", "Coimbra", "Evora"]


def article(i: int) -> str:
    town = TOWNS[i % len(TOWNS)]
    return (f"{town} opens ferry line {i}\n\nThe council of {town} approved ferry line {i} on Monday. "
            f"The mayor said the boats would carry {100 + i} passengers.\n\nTickets cost {i} euros.")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(DEFAULT_READER)


@pytest.fixture
def indexer(tmp_path: Path, tokenizer):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    store = Store(tmp_path / "index")
    return Indexer(corpus, store, Chunker(tokenizer, 40, 8), HashEmbedder(), "hash", log=lambda m: None)


def live_ids(store: Store) -> set[str]:
    snap = store.snapshot()
    try:
        return {a.id for a in snap.articles()}
    finally:
        snap.close()


def test_incremental_builds_do_only_what_changed(indexer: Indexer):
    corpus = indexer.corpus_dir
    for i in range(4):
        (corpus / f"town-{i}.txt").write_text(article(i))
    first = indexer.run()
    assert sorted(first.added) == [f"town-{i}" for i in range(4)] and first.passages_embedded >= 4

    (corpus / "town-1.txt").write_text(article(11))  # changed
    (corpus / "town-2.txt").unlink()  # gone
    (corpus / "town-4.txt").write_text(article(4))  # new
    (corpus / "copy.txt").write_text(article(0))  # the same text as town-0
    second = indexer.run()
    assert (second.added, second.changed, second.removed, second.unchanged) == (["town-4"], ["town-1"], ["town-2"], 2)
    assert [(s.path, s.reason) for s in second.skipped] == [("copy.txt", "same text as town-0.txt")]
    assert live_ids(indexer.store) == {"town-0", "town-1", "town-3", "town-4"}

    third = indexer.run()  # nothing changed: nothing read, nothing committed
    assert (third.added, third.changed, third.removed, third.commits) == ([], [], [], 0)


def test_fused_retrieval_equals_brute_force(indexer: Indexer):
    for i in range(12):
        (indexer.corpus_dir / f"town-{i}.txt").write_text(article(i))
    indexer.run()
    (indexer.corpus_dir / "town-3.txt").unlink()
    indexer.run()  # a delete: its vectors are hidden by tombstones
    snap = indexer.store.snapshot()
    embedder = HashEmbedder()
    retriever = Retriever(snap, embedder, candidates=8, rrf_k=60)
    passages = [p for a in snap.articles() for p in snap.article_passages(a.id)]
    vectors = embedder.encode([passage_text(p) for p in passages])
    for question in ("Which ferry line did the council of Braga approve?", "How much do tickets cost in Faro?"):
        q = embedder.encode_query(question)
        scores = vectors @ q
        order = np.argsort(-scores, kind="stable")[:8]
        dense = [(passages[j].id, float(scores[j])) for j in order]
        assert [p for p, _ in snap.search_vectors(q, 8)] == [p for p, _ in dense]
        expected = [f.passage_id for f in fuse((dense, snap.search_keywords(question, 8)), 5, 60)]
        assert [h.passage.id for h in retriever.run(question, 5)] == expected
    snap.close()


def test_page_metadata_is_stored_and_pages_are_read_again_by_a_new_page_reader(indexer: Indexer):
    from qa.ingest.pages import PAGE_READER

    sys.path.insert(0, str(Path(__file__).parent))
    from test_pages import PAGE

    (indexer.corpus_dir / "valmora.html").write_text(PAGE, encoding="utf-8")
    (indexer.corpus_dir / "town-0.txt").write_text(article(0))
    indexer.run()
    snap = indexer.store.snapshot()
    [row] = snap.articles(["valmora"])
    assert (row.author, row.date, row.updated, row.site) == ("Ana Ribeiro, Tom Hale", "2022-03-14", "2022-03-15",
                                                             "The Harbour Gazette")
    snap.close()
    with indexer.store.writer(lambda m: None) as w:  # as an index built by an earlier page reader
        w.set("page_reader", "an-older-one")
    messages: list[str] = []
    again = indexer.run(log=messages.append)
    assert "1 saved web page(s) are read again by the new reader (trafilatura" in " ".join(messages)
    assert (again.unchanged, again.added, again.changed) == (2, [], [])  # read again; same text: not re-embedded
    with indexer.store.writer(lambda m: None) as w:
        assert w.get("page_reader") == PAGE_READER


def test_an_archive_in_sub_folders_is_indexed_with_path_ids_and_hidden_folders_left_out(indexer: Indexer):
    corpus = indexer.corpus_dir
    (corpus / "2022" / "03").mkdir(parents=True)
    (corpus / "2022" / "03" / "story.txt").write_text(article(1))
    (corpus / "2022" / "04").mkdir()
    (corpus / "2022" / "04" / "feed.jsonl").write_text(
        json.dumps({"title": "A", "text": article(2)}) + "\n" + json.dumps({"title": "B", "text": article(3)}) + "\n")
    (corpus / "top.txt").write_text(article(4))
    (corpus / ".git").mkdir()
    (corpus / ".git" / "notes.txt").write_text(article(5))
    (corpus / "2022" / ".drafts").mkdir()
    (corpus / "2022" / ".drafts" / "draft.txt").write_text(article(6))
    outside = corpus.parent / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(article(7))
    (corpus / "linked").symlink_to(outside, target_is_directory=True)  # a folder behind a symlink: not entered
    report = indexer.run()
    assert sorted(report.added) == ["2022/03/story", "2022/04/feed-1", "2022/04/feed-2", "top"]
    (corpus / "2022" / "03" / "story.txt").write_text(article(11))
    only = indexer.run(files=[str(corpus / "2022" / "03" / "story.txt")])  # a targeted build, by path
    assert (only.changed, only.added, only.removed) == (["2022/03/story"], [], [])
    (corpus / "2022" / "04" / "feed.jsonl").unlink()
    assert sorted(indexer.run().removed) == ["2022/04/feed-1", "2022/04/feed-2"]
    assert live_ids(indexer.store) == {"2022/03/story", "top"}


def test_a_moved_file_and_a_metadata_change_keep_their_vectors(indexer: Indexer):
    corpus = indexer.corpus_dir
    (corpus / "inbox").mkdir()
    (corpus / "inbox" / "story.txt").write_text(article(1))
    (corpus / "record.json").write_text(json.dumps({"title": "Porto", "text": article(2), "author": "Ana Ribeiro"}))
    first = indexer.run()
    assert first.passages_embedded >= 2 and first.passages_reused == 0

    (corpus / "2022").mkdir()
    (corpus / "inbox" / "story.txt").rename(corpus / "2022" / "story.txt")  # filed away: same text
    (corpus / "record.json").write_text(json.dumps({"title": "Porto", "text": article(2), "author": "Tom Hale"}))
    second = indexer.run()
    assert (second.added, second.removed, second.changed) == (["2022/story"], ["inbox/story"], ["record"])
    assert second.passages_embedded == 0 and second.passages_reused == first.passages_embedded
    snap = indexer.store.snapshot()
    [row] = snap.articles(["record"])
    assert row.author == "Tom Hale"
    for p in snap.article_passages("2022/story"):  # the vectors taken over are the passages' own
        [(found, score)] = snap.search_vectors(HashEmbedder().encode_passages([p])[0], 1)
        assert found == p.id and score == pytest.approx(1.0, abs=1e-5)
    snap.close()

    (corpus / "2022" / "story.txt").write_text(article(1).replace("Tickets cost", "Tickets now cost"))
    third = indexer.run()  # a changed text: its changed passage is embedded, the others kept
    assert third.changed == ["2022/story"] and third.passages_embedded >= 1


def test_wire_copies_are_recorded_as_copies_of_one_story(indexer: Indexer):
    corpus = indexer.corpus_dir
    story = "\n\n".join(article(i).split("\n\n", 1)[1] for i in range(1, 7))  # a long agency story
    (corpus / "agency.txt").write_text("Ferry lines approved across the north\n\n" + story)
    (corpus / "other.txt").write_text("\n\n".join(article(i) for i in range(7, 12)))  # same topic, other story
    first = indexer.run()
    assert first.copies == {}
    kept = story.split("\n\n")
    (corpus / "outlet-a.txt").write_text("Northern towns get new ferries\n\n" + "\n\n".join(kept[:4]))  # trimmed
    (corpus / "outlet-b.txt").write_text("Ferries for six towns\n\n" + "\n\n".join(reversed(kept)))  # re-ordered
    second = indexer.run()
    assert second.copies == {"outlet-a": "agency", "outlet-b": "agency"}
    assert "2 wire copies of other stories" in second.summary()
    snap = indexer.store.snapshot()
    assert {a.id: a.story for a in snap.articles()} == {"agency": None, "other": None, "outlet-a": "agency",
                                                        "outlet-b": "agency"}
    snap.close()
    (corpus / "agency.txt").write_text("Ferry lines approved across the north, updated\n\n" + story)
    assert indexer.run().copies == {}  # the story itself, read again, is no copy of its own copies
    (corpus / "agency.txt").unlink()  # the copies stay copies of one story
    (corpus / "outlet-c.txt").write_text("Six towns, six ferries\n\n" + "\n\n".join(kept[1:]))
    assert indexer.run().copies == {"outlet-c": "agency"}
