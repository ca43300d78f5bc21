"""The layers of README "Architecture": every import of a module of ours goes to its own layer
or one below it, whether at the top of the file or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

# Top to bottom. The vendor packages share one layer: none imports another.
LAYERS = [("shims.cli",), ("shims.run",), ("shims.claude", "shims.gemini", "shims.agy", "shims.fake"),
          ("shims.views",), ("shims.workspace",), ("shims.state",), ("shims.runtime",), ("normalize",)]


def layer_of(module: str) -> int | None:
    for index, packages in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in packages):
            return index
    return None


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import; `from shims import run` names shims.run."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += ([(node.lineno, f"shims.{alias.name}") for alias in node.names] if node.module == "shims"
                      else [(node.lineno, node.module)])
    return found


MODULES = sorted(p for d in ("shims", "normalize") for p in (ROOT / d).rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_only_its_layer_and_those_below(path):
    own = layer_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
    if own is None:  # shims/__init__.py: the package's signal block, below everything
        return
    upward = [(line, name) for line, name in imports(path)
              if (target := layer_of(name)) is not None and target < own]
    assert not upward, f"{path.relative_to(ROOT)} imports a layer above it: {upward}"


def test_vendor_packages_do_not_import_each_other():
    vendors = LAYERS[2]
    for vendor in vendors:
        for path in (ROOT / vendor.replace(".", "/")).rglob("*.py"):
            others = [n for _, n in imports(path) if any(n.startswith(v + ".") or n == v for v in vendors if v != vendor)]
            assert not others, f"{path.relative_to(ROOT)} imports another vendor: {others}"
