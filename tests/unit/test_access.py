"""Who may edit (modes, editor passwords) and the abuse limits, without a server."""

from __future__ import annotations

import os
import pickle
import threading
import time
from pathlib import Path

import pytest

from qa.serving.access import CredentialsError, Editors, Mode, decide_mode, editor_of, load_editors, read_password_file
from qa.serving.limits import AskGuard, Busy, RateLimiter


def test_only_a_loopback_server_without_password_is_editable_without_sign_in():
    editors = Editors({"editor": "correct-horse"})
    assert decide_mode("127.0.0.1", share=False, network=False, editors=None) is Mode.LOCAL
    assert decide_mode("localhost", share=False, network=False, editors=None) is Mode.LOCAL
    for host, share, network in [("0.0.0.0", False, False), ("192.168.1.5", False, False),
                                 ("127.0.0.1", True, False), ("127.0.0.1", False, True), ("::", False, False)]:
        assert decide_mode(host, share, network, None) is Mode.READ_ONLY
        assert decide_mode(host, share, network, editors) is Mode.EDITORS
    assert editor_of(Mode.LOCAL, None, "127.0.0.1") == "local@127.0.0.1"
    assert editor_of(Mode.LOCAL, None, "10.0.0.9") is None  # e.g. through a proxy on another machine
    assert editor_of(Mode.READ_ONLY, "editor", "127.0.0.1") is None
    assert editor_of(Mode.EDITORS, None, "127.0.0.1") is None
    assert editor_of(Mode.EDITORS, "alice", "10.0.0.9") == "alice@10.0.0.9"


def test_passwords_are_kept_hashed_and_checked(tmp_path: Path):
    editors = Editors({"alice": "correct-horse", "bob": "battery-staple"})
    assert editors.verify("alice", "correct-horse") and editors.verify("bob", "battery-staple")
    assert not editors.verify("alice", "battery-staple") and not editors.verify("carol", "correct-horse")
    assert not editors.verify("alice", "correct-horse ")
    dumped = pickle.dumps(editors) + repr(editors).encode()
    assert b"correct-horse" not in dumped and b"battery-staple" not in dumped
    with pytest.raises(CredentialsError, match="too short"):
        Editors({"editor": "short"})

    file = tmp_path / "editors"
    file.write_text("# editors\nalice:correct-horse\n\nbob:battery:staple\n")
    assert read_password_file(file) == {"alice": "correct-horse", "bob": "battery:staple"}
    file.write_text("just-the-password\n")
    assert read_password_file(file) == {"editor": "just-the-password"}
    with pytest.raises(CredentialsError, match="cannot read"):
        read_password_file(tmp_path / "missing")


def test_password_from_the_environment_is_removed_from_it(monkeypatch):
    monkeypatch.setenv("QA_ADMIN_PASSWORD", "from-the-env")
    editors = load_editors()
    assert editors is not None and editors.verify("editor", "from-the-env")
    assert "QA_ADMIN_PASSWORD" not in os.environ
    assert load_editors() is None
    monkeypatch.setenv("QA_ADMIN_PASSWORD", "from-the-env")
    assert load_editors("from-the-argument").verify("editor", "from-the-argument")  # arguments win


def test_rate_limiter_counts_per_key_and_says_how_long_to_wait():
    limiter = RateLimiter(3, window=0.5)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert 0.4 < wait <= 0.5
    assert limiter.take("b") == 0.0  # another client is not affected
    assert limiter.take("b", units=3) > 0 and limiter.take("b", units=2) == 0.0
    time.sleep(wait)
    assert limiter.take("a") == 0.0


def test_ask_guard_turns_away_beyond_the_backlog_at_once():
    guard = AskGuard(concurrency=1, backlog=1, per_minute=100)
    release = threading.Event()
    results: list[str] = []

    def ask(client: str) -> None:
        try:
            with guard.admit(client):
                release.wait(5)
            results.append("answered")
        except Busy as busy:
            results.append(str(busy))

    threads = [threading.Thread(target=ask, args=(f"c{i}",)) for i in range(5)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    time.sleep(0.1)
    busy = [r for r in results if r.startswith("Busy")]
    assert len(busy) == 3 and all("try again in" in r for r in busy)  # 1 answering, 1 waiting
    release.set()
    for t in threads:
        t.join()
    assert results.count("answered") == 2
