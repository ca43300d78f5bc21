"""JSON Schema of the contract, generated from the models and committed under `schema/`."""

from __future__ import annotations

import json
from pathlib import Path

from normalize.models import SCHEMA_MODELS


def render() -> dict[str, str]:
    """File name -> file text, deterministic (sorted keys, trailing newline)."""
    out = {}
    for name, model in SCHEMA_MODELS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://codex-shims.invalid/schema/{name}.schema.json"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out


def write_schema(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, text in render().items():
        path = folder / fname
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def check_schema(folder: Path) -> list[str]:
    """Names of files that are missing or differ from the models."""
    return [name for name, _ in schema_problems(folder)]


def schema_problems(folder: Path) -> list[tuple[str, str]]:
    """(file name, "missing" or "drift") for each file that is not there or differs from the
    models: a folder outside a checkout lacks them all, which is not drift."""
    problems = []
    for fname, text in render().items():
        path = folder / fname
        if not path.exists():
            problems.append((fname, "missing"))
        elif path.read_text(encoding="utf-8") != text:
            problems.append((fname, "drift"))
    return problems
