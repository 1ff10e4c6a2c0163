"""The README says what the code does: its settings table lists every environment variable the settings
read, its command table every `qa` command, and the files the docs name exist."""

from __future__ import annotations

import re
from pathlib import Path

from qa.config import ENV
from qa.serving.cli import parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def table_after(heading: str) -> list[str]:
    """The rows of the first table under a `## heading` of the README."""
    section = README.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")][2:]


def test_readme_is_short():
    assert len(README) <= 12_000


def test_settings_table_lists_every_environment_variable():
    listed = {v for row in table_after("Settings") for v in re.findall(r"`(QA_[A-Z_]+)`", row)}
    assert listed == set(ENV)


def test_command_table_lists_every_command():
    listed = {m.group(1) for row in table_after("Command line") for m in [re.match(r"\| `qa ([a-z-]+)", row)] if m}
    commands = set(next(a for a in parser()._actions if a.dest == "command").choices)
    assert listed == commands


def test_files_the_docs_name_exist():
    missing = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        named = set(re.findall(r"\b((?:qa|bench|research|tests|docs)/[\w/.-]*\w\.(?:py|md|json|jsonl))\b", text))
        named |= {m for m in re.findall(r"\]\(([^)#]+)\)", text) if not m.startswith("http")}
        for name in named:
            if not ((ROOT / name).exists() or (doc.parent / name).exists()):
                missing.append(f"{doc.name}: {name}")
    assert missing == []
