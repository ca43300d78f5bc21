"""The committed JSON Schema under schema/ is what the models say (normalize/schema.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT
from pydantic import BaseModel, ConfigDict

from normalize import schema as schema_mod
from normalize.models import SCHEMA_MODELS, Protocol1Answer

SCHEMA_DIR = ROOT / "schema"
NAMES = sorted(f"{name}.schema.json" for name in SCHEMA_MODELS)


def test_committed_schema_matches_the_models():
    assert schema_mod.check_schema(SCHEMA_DIR) == [], "run `make schema` and commit the result"


def test_every_model_has_exactly_one_committed_file():
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json")) == NAMES


@pytest.mark.parametrize("fname", NAMES)
def test_each_file_is_json_schema_with_its_id(fname):
    doc = json.loads((SCHEMA_DIR / fname).read_text(encoding="utf-8"))
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].endswith("/" + fname)
    assert "properties" in doc or "oneOf" in doc or "anyOf" in doc or "$defs" in doc


def test_protocol1_schema_denies_unknown_fields():
    doc = json.loads((SCHEMA_DIR / "protocol1.schema.json").read_text(encoding="utf-8"))
    assert doc["additionalProperties"] is False
    assert set(doc["properties"]) == {"status", "final_message"}
    assert set(doc["required"]) == {"status", "final_message"}


def test_render_is_deterministic():
    assert schema_mod.render() == schema_mod.render()


def test_a_tampered_file_is_reported(tmp_path):
    schema_mod.write_schema(tmp_path)
    assert schema_mod.check_schema(tmp_path) == []
    path = tmp_path / "event.schema.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["title"] = "Edited by hand"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    assert schema_mod.check_schema(tmp_path) == ["event.schema.json"]


def test_a_missing_file_is_reported(tmp_path):
    shutil.copytree(SCHEMA_DIR, tmp_path / "schema")
    (tmp_path / "schema" / "usage.schema.json").unlink()
    assert schema_mod.check_schema(tmp_path / "schema") == ["usage.schema.json"]


def test_a_changed_model_is_detected_against_the_committed_files(monkeypatch):
    class Protocol1WithExtra(Protocol1Answer):
        model_config = ConfigDict(extra="forbid", title="Protocol1Answer")
        tokens: int | None = None

    monkeypatch.setitem(SCHEMA_MODELS, "protocol1", Protocol1WithExtra)
    assert schema_mod.check_schema(SCHEMA_DIR) == ["protocol1.schema.json"]


def test_a_new_model_without_a_file_is_detected(monkeypatch):
    class Extra(BaseModel):
        x: int

    monkeypatch.setitem(SCHEMA_MODELS, "extra", Extra)
    assert schema_mod.check_schema(SCHEMA_DIR) == ["extra.schema.json"]


def test_write_then_check_round_trips(tmp_path: Path):
    written = schema_mod.write_schema(tmp_path / "out")
    assert sorted(p.name for p in written) == NAMES
    assert schema_mod.check_schema(tmp_path / "out") == []
