"""Shared fixtures and helpers of every tier: the real models (loaded once per test session, and only by the
tests that ask for them), a seed corpus in a temp folder, the chat app in a subprocess, made-up articles."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"
SEED_QUESTION = "What do major non-NATO allies receive?"
CNN_ARTICLE = "biden-designates-colombia-major-non-nato-ally"
SEED_ANSWER = "material and supply loans"


LIBRARY = ("Harbour city opens a floating library\n\nThe city of Valmora opened a floating library on a "
           "converted ferry on Monday. The library is run by the novelist Teresa Quintela and holds 12,000 "
           "books.\n")


def _name(i: int) -> str:
    """A distinct made-up word per number (digits spelled as syllables), so every article is unique."""
    return "".join(["ka", "lo", "mi", "ren", "tu", "sa", "vor", "del", "pa", "zim"][int(d)] for d in str(i)).title()


def _article(i: int) -> str:
    return (f"{_name(i)}ford elects a new mayor\n\nVoters in the town of {_name(i)}ford elected the engineer "
            f"Mara {_name(i)}son as mayor on Sunday. She promised {i + 3} new bridges and a free ferry to "
            f"the island of Osk. Turnout was {40 + i % 50} percent, the election office said.\n")


@pytest.fixture(scope="session")
def embedder():
    from qa.config import DEFAULT_EMBEDDER
    from qa.retrieval.embedding import Embedder

    return Embedder(DEFAULT_EMBEDDER)


@pytest.fixture(scope="session")
def reader():
    from qa.config import Settings
    from qa.reading.reader import Reader

    s = Settings()
    return Reader(s.reader_model, null_threshold=s.null_threshold)


@pytest.fixture(scope="session")
def tokenizer():
    """The reader's tokenizer alone (no model weights loaded)."""
    from qa.config import DEFAULT_READER
    from qa.reading.weights import load_tokenizer

    return load_tokenizer(DEFAULT_READER)


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, d)
    return d


@pytest.fixture
def make_pipeline(tmp_path: Path, embedder, reader):
    """Build a Pipeline over a temp corpus/index with the shared models; settings can be overridden."""
    from qa.config import Settings
    from qa.pipeline import Pipeline

    def make(corpus_dir: Path, **overrides):
        settings = Settings.load(corpus_dir=corpus_dir, index_dir=tmp_path / "index", **overrides)
        return Pipeline(settings, log=lambda m: None, embedder=embedder, reader=reader)

    return make


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(folder: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, Path, float]]:
    """The chat app (app.py) in a subprocess on a free loopback port, over a copy of the seed corpus in
    `folder`, with extra command-line `args` and environment; yields (url, corpus folder, start time)."""
    corpus = folder / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    port = _free_port()
    log = open(folder / "server.log", "w")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("QA_ADMIN_")}  # tests set their own
    env = {**inherited, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", **(env or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--corpus", str(corpus),
         "--index", str(folder / "index"), *args],
        cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"app exited: {(folder / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("app did not start in 300 s")
        yield url, corpus, t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def server(tmp_path: Path):
    """The chat app on loopback in local mode (editing on the chat page), over a copy of the seed corpus."""
    with running_app(tmp_path) as running:
        yield running


def pytest_collection_modifyitems(config, items):
    """The unit tier loads no model: a unit test asking for one fails at once (rather than slowly passing)."""
    heavy = {"embedder", "reader", "make_pipeline", "server"}
    for item in items:
        if "tests/unit/" in str(item.fspath) and heavy & set(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(f"{item.nodeid} is in tests/unit but uses a model or a server")
