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


# ----------------------------------------------------------------- the generated samples (make readme-samples)

def test_the_readme_has_every_generated_sample():
    from readme_blocks import samples
    from readme_samples import TARGETS

    assert sorted(samples(README.read_text())) == sorted(
        f"{target}-{kind}" for target in TARGETS.values() for kind in ("pretty", "ndjson"))


def test_a_sample_block_is_rewritten_between_its_markers_only():
    from readme_blocks import SampleError, with_samples

    text = "intro\n<!-- sample: a -->\n```\nold\n```\n<!-- /sample -->\nbetween\n<!-- sample: b -->\n```\n```\n" \
           "<!-- /sample -->\nend\n"
    assert with_samples(text, {"a": "new 1\nnew 2", "b": "x"}) == (
        "intro\n<!-- sample: a -->\n```\nnew 1\nnew 2\n```\n<!-- /sample -->\nbetween\n<!-- sample: b -->\n```\nx\n"
        "```\n<!-- /sample -->\nend\n")
    with pytest.raises(SampleError):  # a block nobody writes would go stale unseen
        with_samples(text, {"a": "new"})
    with pytest.raises(SampleError):
        with_samples(text, {"a": "1", "b": "2", "c": "3"})


def test_the_result_line_is_cut_after_usage():
    from readme_blocks import ndjson_sample

    events = (b'{"type":"turn.started"}\n{"type":"result","status":"completed","final_message":"h\xc3\xa9",'
              b'"usage":{"input_tokens":1,"models":{}},"duration_ms":5,"journal":"/tmp/x"}\n')
    assert ndjson_sample(events) == ('{"type":"turn.started"}\n{"type":"result","status":"completed",'
                                     '"final_message":"hé","usage":{"input_tokens":1,"models":{}},…}')


def test_the_final_screen_shows_a_line_redrawn_in_place_as_its_last_state():
    from readme_blocks import SampleError, screen_text

    written = "$ echo hi  …\r\x1b[2K\x1b[36m$ echo hi  ✓ exit 0\x1b[0m\r\n  hi\r\n".encode()
    assert screen_text(written, 100, 5) == "$ echo hi  ✓ exit 0\n  hi"
    with pytest.raises(SampleError):  # longer than the screen: its start would be missing
        screen_text(b"line\r\n" * 6, 100, 5)


LIVE = """── thread 93fe9701-da14-4b88-82c9-145256afe745
$ echo hello-from-tool  ✓ exit 0   0.8s
── completed · claude claude-opus-5-5 · 2026-12-04 19:05:17
   input               43,206
   session 93fe9701-da14-4b88-82c9-145256afe745"""


def test_masking_hides_what_changes_per_run():
    from readme_blocks import masked

    other = (LIVE.replace("93fe9701-da14-4b88-82c9-145256afe745", "0b1c2d3e-aaaa-4bbb-8ccc-0123456789ab")
             .replace("   0.8s", "  12.3s").replace("2026-12-04 19:05:17", "2027-01-31 08:00:01"))
    assert masked(other) == masked(LIVE)
    assert masked('"duration_ms":298,"session_id":"fake-session-979e25dd"') == \
        masked('"duration_ms":41,"session_id":"fake-session-0a1b2c3d"')


@pytest.mark.parametrize("changed", [
    LIVE.replace("43,206", "43,207"),  # a token count
    LIVE.replace("   input", "  input"),  # the layout
    LIVE.replace("$ echo hello-from-tool  ✓ exit 0   0.8s\n", ""),  # a missing line
    LIVE.replace("✓ exit 0", "✗ exit 1"),
    LIVE.replace("claude-opus-5-5", "claude-opus-5-6"),
], ids=["tokens", "layout", "line", "status", "model"])
def test_masking_keeps_what_a_reader_would_notice(changed):
    from readme_blocks import masked

    assert masked(changed) != masked(LIVE)


@pytest.mark.slow
@pytest.mark.realcli
def test_the_readme_samples_are_what_the_demos_print_now(mark):
    """`make readme-samples` after a change to the live view or the stream; this fails until then."""
    import procs
    from fakes.claude_env import CLAUDE_BIN
    from readme_samples import differences, fresh_samples

    assert CLAUDE_BIN.exists(), "the pinned Claude CLI is missing: run `make vendor-clis`"
    diff = differences(README.read_text(), fresh_samples({procs.MARK_ENV: mark}))
    assert not diff, "run `make readme-samples`:\n" + "\n".join(diff)
