"""The package's layers: data flows one way (files -> articles -> passages -> store -> retrieval -> reading
-> answer -> front-ends), so no module imports from a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

import qa

PACKAGE = Path(qa.__file__).parent
# Lowest first; a module may import from its own layer and those before it.
LAYERS = [
    {"qa.errors", "qa.config", "qa.records", "qa.rates", "qa.disk"},
    {"qa.ingest"},
    {"qa.feeds"},
    {"qa.store"},
    {"qa.retrieval"},
    {"qa.indexing"},
    {"qa.reading"},
    {"qa.conversation"},
    {"qa.pipeline"},
    {"qa.training"},
    {"qa.cluster"},
    {"qa.serving"},
]


def layer_of(module: str) -> int:
    for rank, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return rank
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def imports_of(path: Path) -> list[str]:
    """Every qa module a file imports, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qa") and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("qa.")]
    return found


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in ("qa", "qa.__main__"):  # the package's lazy exports and `python -m qa`: the top
            out.append((name, path))
    return out


def test_every_module_has_a_layer_and_imports_nothing_above_it():
    wrong = []
    for name, path in modules():
        for imported in imports_of(path):
            if imported != "qa" and layer_of(imported) > layer_of(name):
                wrong.append(f"{name} imports {imported}")
    assert wrong == []


def test_every_package_says_its_job():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 10, f"{init} needs a docstring saying its package's job"
