"""Settings load as defaults < environment < arguments, and a bad value fails at load time naming the
setting, its environment variable and what it may be. Every error qa defines descends from QAError."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import qa
from qa import errors
from qa.config import CHOICES, ENV, Settings
from qa.errors import QAError, SettingsError


def test_environment_overrides_defaults_and_arguments_override_both(monkeypatch):
    monkeypatch.setenv("QA_TOP_K", "7")
    monkeypatch.setenv("QA_READ_MODE", "full")
    s = Settings.load(top_k=3)
    assert (s.top_k, s.read_mode, s.evidence_check) == (3, "full", "names")


@pytest.mark.parametrize("var, value, named", [
    ("QA_READ_MODE", "ful", "read_mode (QA_READ_MODE): use one of adaptive, full"),
    ("QA_EVIDENCE_CHECK", "of", "evidence_check (QA_EVIDENCE_CHECK): use one of names, off"),
    ("QA_READER_PRECISION", "int4", "reader_precision (QA_READER_PRECISION): use one of auto, fp32, bf16, int8"),
    ("QA_INDEX_VECTORS", "pq48", "index_vectors (QA_INDEX_VECTORS): use one of '', float32, sq8"),
    ("QA_TOP_K", "0", "top_k (QA_TOP_K): must be 1 or more"),
    ("QA_IVF_NPROBE", "many", "ivf_nprobe (QA_IVF_NPROBE): expected int"),
])
def test_a_bad_value_fails_when_the_settings_load(monkeypatch, var, value, named):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as caught:
        Settings.load()
    assert named in str(caught.value) and value in str(caught.value)


def test_unknown_settings_and_inconsistent_ones_are_refused():
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.load(top_kk=3)
    with pytest.raises(SettingsError, match="passage_overlap"):
        Settings.load(passage_tokens=64, passage_overlap=40)


def test_choices_cover_every_setting_with_fixed_values():
    for name, choices in CHOICES.items():
        assert getattr(Settings(), name) in choices, name
    assert set(ENV.values()) <= {f for f in Settings.__dataclass_fields__}


def test_every_error_qa_defines_descends_from_qa_error():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == "qa.errors"]
    assert len(classes) > 10 and all(issubclass(c, QAError) for c in classes)
    # ...and no module defines an exception of its own outside qa.errors
    elsewhere = []
    for path in Path(qa.__file__).parent.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception", "Busy")) for b in node.bases):
                elsewhere.append(f"{path.name}: {node.name}")
    assert elsewhere == []


def test_the_public_api_is_importable_from_qa():
    for name in qa.__all__:
        assert getattr(qa, name) is not None, name
