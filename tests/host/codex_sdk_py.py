"""A host that drives `shim-<vendor> exec` through codex-sdk-python (import codex_sdk), a strict
`codex exec --json` reader: an event or item type it does not know, or a missing Codex key, is a
CodexParseError (or a KeyError) in the user's program.

`run_plan(plan)` takes the same plan as tests/host/codex_sdk_ts.mjs and returns the same outcomes,
so one test drives both SDKs: {codexPath, env, steps: [{op: "run" | "stream", prompt,
thread: "new" | "same" | "resume", threadId?, threadOptions?, outputSchema?, abortOn?,
abortAfterMs?}]} -> [{ok, thread_id, final_response, usage, items, events, error, error_name}].
Items, events and usage are the SDK's dataclasses as dicts: what a Python user gets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from typing import Any

from codex_sdk import AbortController, Codex, CodexOptions, ThreadOptions, TurnOptions

# The TS plan's thread options, in the Python SDK's names.
THREAD_OPTION_NAMES = {"workingDirectory": "working_directory", "skipGitRepoCheck": "skip_git_repo_check",
                       "model": "model", "sandboxMode": "sandbox_mode", "additionalDirectories": "additional_directories"}


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def run_plan(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return asyncio.run(_run_plan(plan))


async def _run_plan(plan: dict[str, Any]) -> list[dict[str, Any]]:
    if not plan.get("codexPath"):
        raise ValueError("codexPath is required: the real codex binary must never run")

    def new_codex() -> Codex:
        return Codex(CodexOptions(codex_path_override=plan["codexPath"], env=plan["env"]))

    codex, thread, outcomes = new_codex(), None, []
    for step in plan["steps"]:
        options = ThreadOptions(**{THREAD_OPTION_NAMES[k]: v for k, v in (step.get("threadOptions") or {}).items()})
        if step.get("thread") == "resume":
            codex = new_codex()
            thread = codex.resume_thread(step.get("threadId") or thread.id, options)
        elif step.get("thread") != "same" or thread is None:
            thread = codex.start_thread(options)
        outcomes.append(await _step(thread, step))
    # After an abort the SDK drops its subprocess transport without closing it; collected after
    # asyncio.run closed the loop, it would complain ("Event loop is closed"). Collect it here.
    gc.collect()
    await asyncio.sleep(0)
    return outcomes


async def _step(thread, step: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": False, "thread_id": None, "final_response": None, "usage": None, "items": [],
                           "events": [], "error": None, "error_name": None}
    controller = AbortController()
    turn_options = TurnOptions(output_schema=step.get("outputSchema"), signal=controller.signal)
    loop = asyncio.get_running_loop()
    delay = (step.get("abortAfterMs") or 0) / 1000
    try:
        if step["op"] == "run":
            if step.get("abortAfterMs") is not None:
                loop.call_later(delay, controller.abort)
            turn = await thread.run(step["prompt"], turn_options)
            out.update(final_response=turn.final_response, usage=_plain(turn.usage), items=[_plain(i) for i in turn.items])
        else:
            streamed = await thread.run_streamed(step["prompt"], turn_options)
            async for event in streamed.events:
                out["events"].append(_plain(event))
                if event.type == "item.completed":
                    out["items"].append(_plain(event.item))
                    if event.item.type == "agent_message":
                        out["final_response"] = event.item.text
                if event.type == "turn.completed":
                    out["usage"] = _plain(event.usage)
                if step.get("abortOn") == event.type:
                    loop.call_later(delay, controller.abort)
        out["ok"] = True
    except Exception as error:  # what the user's program would catch
        out.update(error=str(error), error_name=type(error).__name__)
    out["thread_id"] = thread.id
    return out
