"""The README's examples are what a user pastes: every TOML block must parse as TOML 1.0
(Codex's config.toml, the shims' config file)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TOML_BLOCKS = [(README.read_text()[: m.start()].count("\n") + 1, m.group(1))
               for m in re.finditer(r"```toml\n(.*?)```", README.read_text(), re.S)]


def test_the_readme_has_toml_examples():
    assert len(TOML_BLOCKS) >= 4


@pytest.mark.parametrize(("line", "block"), TOML_BLOCKS, ids=[f"line-{n}" for n, _ in TOML_BLOCKS])
def test_every_toml_block_parses(line, block):
    tomllib.loads(block)
