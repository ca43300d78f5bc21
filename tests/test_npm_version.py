"""provider.cli_version without running `--version`: the package.json of the npm package the
vendor binary belongs to (shims.runtime.npm)."""

from __future__ import annotations

import json

from shims.runtime.npm import package_version


def _package(root, name, version, binary="bundle/cli.js"):
    pkg = root / "node_modules" / name
    (pkg / binary).parent.mkdir(parents=True)
    (pkg / binary).write_text("#!/usr/bin/env node\n")
    (pkg / "package.json").write_text(json.dumps({"name": name, "version": version}))
    bin_dir = root / "node_modules" / ".bin"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "cli"
    link.symlink_to(pkg / binary)
    return link


def test_the_linked_package_names_the_version(tmp_path):
    link = _package(tmp_path, "@google/gemini-cli", "0.61.0")
    assert package_version(str(link), "@google/gemini-cli") == "0.61.0"


def test_another_package_or_a_wrapper_script_gives_none(tmp_path):
    link = _package(tmp_path, "@google/gemini-cli", "0.61.0")
    assert package_version(str(link), "@anthropic-ai/claude-code") is None  # not a guess from a stranger
    wrapper = tmp_path / "gemini"
    wrapper.write_text("#!/bin/sh\nexec node /somewhere/gemini.js \"$@\"\n")
    assert package_version(str(wrapper), "@google/gemini-cli") is None
    assert package_version(str(tmp_path / "missing"), "@google/gemini-cli") is None
