"""Fake vendor invocation: argv and environment for tests/fakes/fake_vendor.py."""

from __future__ import annotations

import os

from normalize.request import RunSpec
from shims.runtime.spawn import Launch

# The fake honours every mode (it only echoes it); real vendors map modes onto their flags.
MODES = {"read-only": ["--mode", "read-only"], "write": ["--mode", "write"], "full": ["--mode", "full"]}


# Where a run's cost comes from, for the spend cap: the fake reports cost_usd.
COST_SOURCE = "vendor"

# Beyond this the prompt goes through stdin (--prompt-stdin): Linux caps one argv string at 128 KiB.
ARGV_PROMPT_MAX = 64 * 1024


# The fake vendor has one workspace, no reasoning effort and no image input.
ADD_DIR_FLAG: str | None = None
EFFORTS: frozenset[str] = frozenset()
IMAGE_INPUT = False


def build_launch(spec: RunSpec, program: str, *, pty: bool = False) -> Launch:
    prompt = spec.prompt.encode()
    big = len(prompt) > ARGV_PROMPT_MAX and not pty  # a pty has no stdin to carry it
    # Values as `--flag=value`, one argv word each: never read as an option of their own.
    argv = [program, "--prompt-stdin" if big else f"--prompt={spec.prompt}", "--output", "stream-json"]
    if spec.mode:
        argv += MODES[spec.mode]
    if spec.model:
        argv.append(f"--model={spec.model}")
    if spec.resume_session:
        argv.append(f"--resume={spec.resume_session}")
    return Launch(argv=argv, env=dict(os.environ), cwd=spec.cwd, pty=pty, stdin_data=prompt if big else None)


MODE_NOTES: dict[str, str] = {mode: "echoed to the fake CLI" for mode in MODES}

# Tests give each fake "account" its own quota memory through this variable.
ACCOUNT_ENV = ("FAKE_VENDOR_ACCOUNT",)


def parse_version(text: str) -> str | None:
    parts = text.strip().split()
    return parts[-1] if parts else None
