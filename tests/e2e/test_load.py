"""The chat under load: simultaneous users through the Gradio API of a real server (short by default;
QA_LOAD_USERS and QA_LOAD_SECONDS make it longer)."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_chat_under_load(server):
    sys.path.insert(0, str(ROOT / "bench"))
    from chat_load import run_load

    url, _, _ = server
    result = run_load(url, users=int(os.environ.get("QA_LOAD_USERS", "8")),
                      seconds=float(os.environ.get("QA_LOAD_SECONDS", "15")))
    assert not result["errors"], result["errors"][:3]
    assert result["answers"] >= result["users"]
