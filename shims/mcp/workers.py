"""One shim process per worker, and the registry of them (CONTRACT §14, §16).

The server is a protocol-2 host: it writes one request to a shim's stdin and reads its NDJSON
stream; the shim does the vendor's work, its cancel ladder, its journal. What the server adds:
- the request and the argv are built here from checked arguments, never copied from the call;
- each shim leads a process session of its own (start_new_session), so the vendor stays in the
  shim's group (§14) and the server can end the whole group if a shim ever outlived its ladder;
- each shim gets SIGTERM when the server dies (PR_SET_PDEATHSIG), so a host that SIGKILLs the
  server still leaves nothing: the shim cancels its vendor as for any SIGTERM. (A shim also
  cancels when it finds its stdout's reader gone, CONTRACT §14; this does not depend on that.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shims.mcp.arguments import Limits
from shims.mcp.views import WorkerFacts, item_line
from shims.run.options import BUILTIN
from shims.runtime.procs import parent_death_setup

STDERR_TAIL_BYTES = 8192
UNREPORTED_KEPT = 1000  # progress lines kept for a wait to send
REMEMBERED = 500  # ended workers `list` still shows; the journal keeps every run
SETTLE_S = 5.0  # after a ladder's last signal: the shim writes its result and exits


def line_limit(limits: Limits) -> int:
    """The longest stream line read: a result line holds the answer (max_answer_bytes, each
    byte at most 6 in JSON escapes) and its usage."""
    return max(4 << 20, 6 * limits.max_answer_bytes + (1 << 20))


def ladder_seconds(providers: list[str]) -> float:
    """How long a shim's cancel takes at most: SIGINT, SIGTERM, SIGKILL to its vendor, the
    configured cancel_grace apart, then its result."""
    from shims.run.config import ConfigError, load_defaults

    graces = []
    for provider in providers:
        try:
            graces.append(float(load_defaults(provider)["cancel_grace"]))
        except (ConfigError, TypeError, ValueError):  # the shim reports a bad config itself
            graces.append(BUILTIN["cancel_grace"])
    return 2 * max(graces) + SETTLE_S


def shim_program(provider: str) -> str:
    """The `shim-<provider>` installed beside this interpreter (a venv, pipx), else on PATH."""
    beside = Path(sys.executable).parent / f"shim-{provider}"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(f"shim-{provider}")
    if found is None:
        raise FileNotFoundError(f"shim-{provider} is not installed beside {sys.executable} nor on PATH")
    return os.path.abspath(found)


def request_and_argv(provider: str, args: Any, limits: Limits, default_cwd: str) -> tuple[dict[str, Any], list[str]]:
    """The protocol-2 request and the shim's argv for checked spawn arguments. Values reach the
    shim in the request (which it checks again), except the two options that have no request
    field, fallback and the spend cap, whose values are validated enums and a finite number."""
    timeout = args.timeout_seconds or limits.worker_timeout
    request: dict[str, Any] = {
        "protocol_version": 2,
        "message": args.task,
        "cwd": args.cwd or default_cwd,
        "mode": args.mode,
        "deadline_ms": max(1, round(timeout * 1000)),
        "worktree": args.worktree,
        "max_final_message_bytes": limits.max_answer_bytes,
    }
    if args.model:
        request["model"] = args.model
    if args.resume_session_id:
        request["resume"] = {"session_id": args.resume_session_id}
    argv = [shim_program(provider), "--emit", "ndjson"]
    if args.fallback:
        argv.append("--fallback=" + ",".join(args.fallback))
    if args.max_cost_usd is not None:
        argv.append(f"--max-cost-usd={args.max_cost_usd!r}")
    return request, argv


@dataclass
class Worker:
    """One worker: its shim process and what its stream has said so far."""

    agent_id: str
    provider: str
    mode: str
    cwd: str
    process: asyncio.subprocess.Process
    deadline_s: float
    ladder_s: float
    started: float = field(default_factory=time.monotonic)
    finished: int = 0  # items finished so far
    # (ordinal, line) of finished items no wait has sent as progress yet, the newest UNREPORTED_KEPT:
    # a worker nobody waits for must not grow the server without bound.
    unreported: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=UNREPORTED_KEPT))
    shown: int = 0  # the ordinal of the last item sent as progress
    result: dict[str, Any] | None = None
    stderr_tail: bytearray = field(default_factory=bytearray)
    ended_at: float | None = None
    cancelled_by_server: bool = False
    overran: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set on a new item and at the end
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def add_item(self, line: str) -> None:
        self.finished += 1
        self.unreported.append((self.finished, line))
        self.changed.set()

    def take_progress(self) -> list[tuple[int, str]]:
        """The finished items no wait has sent yet, oldest first, as (ordinal, line); items that
        fell out of the bound are one line saying how many. Concurrent waits on one worker
        share them: each item goes to one of them."""
        taken = list(self.unreported)
        self.unreported.clear()
        if taken and taken[0][0] > self.shown + 1:
            skipped = taken[0][0] - 1 - self.shown
            taken.insert(0, (taken[0][0] - 1, f"… {skipped} earlier item{'s' if skipped != 1 else ''} not shown"))
        if taken:
            self.shown = taken[-1][0]
        return taken

    def facts(self) -> WorkerFacts:
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        return WorkerFacts(
            agent_id=self.agent_id, provider=self.provider, mode=self.mode, cwd=self.cwd,
            elapsed_seconds=end - self.started, items=self.finished, result=self.result,
            ended=self.done.is_set(), exit_code=self.process.returncode,
            stderr_tail=self.stderr_tail.decode("utf-8", "replace"),
            cancelled_by_server=self.cancelled_by_server, overran=self.overran)


class Workers:
    """Every worker of this server, running or ended (the oldest ended ones are forgotten)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._workers: OrderedDict[str, Worker] = OrderedDict()
        self._tasks: set[asyncio.Task] = set()
        # Spawns past the limit check whose shim is still being started: they hold their slot,
        # since tool calls run concurrently and each start awaits (fork, exec).
        self._starting = 0
        self.closing = False  # shut_down has begun: no new worker starts

    def running(self) -> list[Worker]:
        return [w for w in self._workers.values() if not w.done.is_set()]

    def all(self) -> list[Worker]:
        return list(self._workers.values())

    def get(self, agent_id: str) -> Worker:
        try:
            return self._workers[agent_id]
        except KeyError:
            raise LookupError(f"no worker {agent_id!r} on this server (list shows them)") from None

    async def spawn(self, args: Any, default_cwd: str) -> Worker:
        if self.closing:
            raise OverflowError("the server is shutting down: no new worker starts")
        if len(self.running()) + self._starting >= self.limits.max_workers:
            raise OverflowError(f"{self.limits.max_workers} workers are running, this server's limit "
                                "(--max-workers): wait for one or cancel one first")
        request, argv = request_and_argv(args.provider, args, self.limits, default_cwd)
        ladder_s = ladder_seconds([args.provider, *args.fallback])
        self._starting += 1
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=request["cwd"], start_new_session=True,
                preexec_fn=parent_death_setup(signal.SIGTERM), limit=line_limit(self.limits))
        finally:
            self._starting -= 1
        worker = Worker(uuid.uuid4().hex[:12], args.provider, args.mode, request["cwd"], process,
                        deadline_s=request["deadline_ms"] / 1000,
                        ladder_s=ladder_s)
        self._workers[worker.agent_id] = worker
        self._forget_old()
        task = asyncio.create_task(self._follow(worker, json.dumps(request).encode() + b"\n"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return worker

    def _forget_old(self) -> None:
        ended = [w.agent_id for w in self._workers.values() if w.done.is_set()]
        for agent_id in ended[: max(0, len(ended) - REMEMBERED)]:
            del self._workers[agent_id]

    async def _follow(self, worker: Worker, request: bytes) -> None:
        process = worker.process
        watchdog = asyncio.create_task(self._watch_deadline(worker))
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                process.stdin.write(request)
                await process.stdin.drain()
                process.stdin.close()
            await asyncio.gather(self._read_stream(worker), self._read_stderr(worker))
            await process.wait()
        finally:
            watchdog.cancel()
            worker.ended_at = time.monotonic()
            worker.done.set()
            worker.changed.set()

    async def _read_stream(self, worker: Worker) -> None:
        stdout = worker.process.stdout
        while True:
            try:
                line = await stdout.readline()
            except ValueError:  # past line_limit: not a protocol-2 line. Its start is dropped
                continue  # and its rest reads as a line that is not an event.
            if not line:
                return
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if event.get("type") == "item.completed" and isinstance(event.get("item"), dict):
                worker.add_item(item_line(event["item"]))
            elif event.get("type") == "result":
                worker.result = event

    async def _read_stderr(self, worker: Worker) -> None:
        while chunk := await worker.process.stderr.read(65536):
            worker.stderr_tail += chunk
            del worker.stderr_tail[:-STDERR_TAIL_BYTES]

    async def _watch_deadline(self, worker: Worker) -> None:
        """The shim keeps its own deadline; this is for a shim that does not."""
        await asyncio.sleep(worker.deadline_s + worker.ladder_s)
        worker.overran = True
        await self._stop(worker)

    async def cancel(self, worker: Worker) -> None:
        """The shim's own cancel ladder (SIGTERM: it interrupts its vendor, then writes a
        cancelled result), and the group's end if the shim has not ended after it."""
        if worker.done.is_set():
            return
        worker.cancelled_by_server = True
        await self._stop(worker)

    async def _stop(self, worker: Worker) -> None:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.done.wait(), worker.ladder_s + SETTLE_S)
        except TimeoutError:
            # The group is the shim's session, made at spawn: only its own processes are in it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.process.pid, signal.SIGKILL)
            await worker.done.wait()

    async def shut_down(self) -> None:
        """Cancel every running worker at once and wait until each has ended. A spawn already
        past its checks when this began still starts its shim while the first cancels run, so
        this goes on until no worker runs and none is starting."""
        self.closing = True
        while self.running() or self._starting:
            await asyncio.gather(*(self.cancel(w) for w in self.running()), return_exceptions=True)
            await asyncio.sleep(0.01)
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
