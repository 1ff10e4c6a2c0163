"""Odd questions, killed indexers, concurrent writers and readers.

The kill loop is short by default (CI); QA_KILL_ITERATIONS makes it longer.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import LIBRARY, ROOT, _article
from qa.store import Store
from qa.errors import QuestionError
from qa.records import Answer

@pytest.mark.parametrize("question", [
    "What do major non-NATO allies receive? 🇨🇴🤝🇺🇸",
    "ما هي العاصمة؟",  # Arabic, right to left
    "מה הבירה של קולומביה?",  # Hebrew
    "What do major\x00 non-NATO\x1b[31m allies\u200b receive?\x07",
    "<script>alert('x')</script> What do major non-NATO allies receive?",
    "' OR 1=1; DROP TABLE articles; --",
    "Colombia " * 100,
])
def test_odd_questions_get_an_answer_or_a_plain_no(corpus_dir: Path, make_pipeline, question):
    answer = make_pipeline(corpus_dir).ask(question)
    assert isinstance(answer, Answer)
    assert answer.passages, "the closest passages come back even for odd questions"
    if answer.text is not None:  # a real span of a real article, never made up
        assert 0 < answer.score <= 1 and answer.text in answer.context


def test_a_100k_character_question_is_refused_with_the_limit(corpus_dir: Path, make_pipeline):
    with pytest.raises(QuestionError, match="too long .*100,000 characters; the limit is 1,000"):
        make_pipeline(corpus_dir).ask("why" * 33_333 + "?")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(min_size=0, max_size=300))
def test_property_any_unicode_question(corpus_dir: Path, make_pipeline, question):
    pipe = make_pipeline(corpus_dir)
    try:
        answer = pipe.ask(question)
    except QuestionError as exc:
        assert str(exc)  # refused with a reason: empty, no words, too long
        return
    assert answer.text is None or (answer.text and answer.article and 0 < answer.score <= 1)


def _qa(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "qa", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_index(index_dir: Path) -> int:
    """The index on disk loads and is consistent; returns its article count (0 if none yet)."""
    store = Store(index_dir)
    if store.generation() == 0:
        return 0
    snap = store.snapshot()
    try:
        return check_consistent(snap)
    finally:
        snap.close()


def check_consistent(snap) -> int:
    """The snapshot passes the store's full check; returns its article count."""
    assert snap.check() == []
    return snap.article_count


def test_sigkill_during_indexing_loses_nothing(tmp_path: Path):
    """Kill `qa index` at random moments while it adds articles; the index must always load, and a
    rerun must finish the work (every article indexed and answerable)."""
    iterations = int(os.environ.get("QA_KILL_ITERATIONS", "4"))
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    rng = random.Random(7)
    args = ("index", "--corpus", str(corpus), "--index", str(index))
    n = 0
    # One uninterrupted run gives the time scale to aim the kills at.
    for _ in range(40):
        (corpus / f"town-{n}.txt").write_text(_article(n))
        n += 1
    t = time.perf_counter()
    assert _qa(*args, cwd=tmp_path).wait(timeout=300) == 0
    full = time.perf_counter() - t
    kills = 0
    for _ in range(iterations):
        for _ in range(40):
            (corpus / f"town-{n}.txt").write_text(_article(n))
            n += 1
        proc = _qa(*args, cwd=tmp_path)
        time.sleep(rng.uniform(0.3, full * 1.1))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        _check_index(index)  # loads, checksums and counts agree, whatever moment it died at
    assert kills, "no run was killed: the kill times missed every run"
    (corpus / "library.txt").write_text(LIBRARY)
    proc = _qa(*args, "--json", cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert _check_index(index) == n + 1
    assert not [f for f in corpus.iterdir() if f.name.startswith(".")], "no temporary files left in the corpus"
    answer = _qa("ask", "Who runs the floating library?", "--corpus", str(corpus), "--index", str(index),
                 "--json", cwd=tmp_path)
    out, err = answer.communicate(timeout=300)
    result = json.loads(out)
    assert result["article"] == "library" and result["text"] == "Teresa Quintela", err


def test_two_indexers_at_once_are_serialised(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for i in range(150):
        (corpus / f"town-{i}.txt").write_text(_article(i))
    args = ("index", "--corpus", str(corpus), "--index", str(index))
    first = _qa(*args, cwd=tmp_path)
    second = _qa(*args, cwd=tmp_path)
    results = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, results
    logs = results[0][1] + results[1][1]
    assert "another indexer is updating" in logs and "waiting" in logs
    assert _check_index(index) == 150
    assert Store(index).generation() <= 2  # the second found the work done (or redid nothing)
