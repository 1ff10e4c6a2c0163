"""The pure half of a build: which files to read, when to rebuild, and each article's fate."""

from __future__ import annotations

from qa.indexing.plan import Fingerprint, Held, decide, plan_build
from qa.store.schema import SourceRow


def test_plan_reads_new_and_changed_files_and_forgets_gone_ones():
    known = {"same.txt": SourceRow("same.txt", 10, 1, None), "edited.txt": SourceRow("edited.txt", 10, 1, None),
             "gone.txt": SourceRow("gone.txt", 5, 1, None), "skipped.txt": SourceRow("skipped.txt", 3, 1, "empty")}
    stats = {"same.txt": [10, 1], "edited.txt": [10, 2], "new.txt": [4, 1], "skipped.txt": [3, 1]}
    plan = plan_build(known, stats)
    assert (plan.read, plan.gone, plan.unchanged) == (("edited.txt", "new.txt"), ("gone.txt",),
                                                      ("same.txt", "skipped.txt"))
    # a targeted build looks at the named files alone, and reads a named skipped file again
    only = plan_build(known, stats, only={"skipped.txt", "same.txt"})
    assert (only.read, only.gone, only.unchanged) == (("skipped.txt",), (), ("same.txt",))


def test_each_article_is_new_changed_unchanged_or_a_duplicate():
    free = Held(None, None, None)
    assert decide("a.txt", "a", "h1", free, False, False, set()).action == "new"
    mine = Held("a.txt", "a.txt", "h1")
    assert decide("a.txt", "a", "h1", mine, False, False, set()).action == "unchanged"
    assert decide("a.txt", "a", "h2", Held("a.txt", None, "h1"), False, False, set()).action == "changed"

    taken = decide("b.txt", "a", "h1", Held("a.txt", None, None), False, False, set())
    assert (taken.action, taken.original, taken.retry) == ("duplicate", "a.txt", False)
    assert taken.reason == "article id 'a' already used by a.txt"
    copy = decide("c.txt", "c", "h1", Held(None, "a.txt", None), False, False, {"a.txt"})
    assert (copy.action, copy.reason, copy.retry) == ("duplicate", "same text as a.txt", True)
    # the same file holding one id twice: the second is refused, never a retry
    twice = decide("a.txt", "a", "h1", Held("a.txt", None, None), True, False, {"a.txt"})
    assert (twice.action, twice.retry) == ("duplicate", False)


def test_a_changed_embedder_or_chunking_asks_for_a_rebuild():
    now = Fingerprint("all-MiniLM-L6-v2", "abc", 200, 40)
    assert now.change_from(now.to_state()) is None
    assert "embedding model changed" in Fingerprint("other", "abc", 200, 40).change_from(now.to_state())
    assert "chunking settings changed" in Fingerprint("all-MiniLM-L6-v2", "abc", 100, 20).change_from(now.to_state())
    # the stored form is the one stores have always kept (no rebuild after an upgrade)
    assert now.to_state() == {"embedding_model": "all-MiniLM-L6-v2",
                              "chunking": {"version": 1, "tokenizer": "abc", "max_tokens": 200, "overlap": 40}}
