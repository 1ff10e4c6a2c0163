"""Shared fixtures: the real models, loaded once per test session, and a seed corpus in a temp folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"
SEED_QUESTION = "What do major non-NATO allies receive?"
CNN_ARTICLE = "biden-designates-colombia-major-non-nato-ally"


@pytest.fixture(scope="session")
def embedder():
    from qa.config import DEFAULT_EMBEDDER
    from qa.embedding import Embedder

    return Embedder(DEFAULT_EMBEDDER)


@pytest.fixture(scope="session")
def reader():
    from qa.config import Settings
    from qa.reader import Reader

    s = Settings()
    return Reader(s.reader_model, null_threshold=s.null_threshold)


@pytest.fixture(scope="session")
def tokenizer(reader):
    return reader.tokenizer


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
