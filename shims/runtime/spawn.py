"""Starting the vendor CLI: argv lists only (never a shell), pipes or a pty.

stdin is closed (/dev/null), or, for prompts too long for argv, a pipe that carries the prompt
and is then closed: the loop writes it without blocking.

The pty is opened here rather than through ptyprocess/pexpect: those always call setsid(),
which would move the vendor out of the shim's process group, out of reach of a host's group
SIGKILL (CONTRACT §14). A slave pty that is not the controlling terminal still makes
isatty() true for the vendor, which is what TTY-only CLIs check. The window is wide so lines
are not wrapped, and nothing is ever written to the vendor's input.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import termios
from dataclasses import dataclass, field

from shims.runtime import procs


class LaunchError(Exception):
    """The vendor could not be started: `missing` when the program does not exist or is not
    executable."""

    def __init__(self, message: str, missing: bool) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(slots=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    pty: bool = False
    # Some vendors (agy) clean up their tool sessions on SIGINT and must not be SIGKILLed
    # before this many seconds have passed since it.
    min_sigint_grace_s: float = 0.0
    env_names_added: list[str] = field(default_factory=list)
    # Written to the vendor's stdin, which is then closed (pipe mode only).
    stdin_data: bytes | None = None
    # A per-run folder (settings, TMPDIR) removed when the run ends, however it ends.
    scratch_dir: str | None = None
    # Which of the vendor's output formats this launch asked for (the parser to use).
    output_format: str = "stream-json"
    # The pseudo-terminal's size (rows, cols) when `pty`: wide, so lines are not wrapped.
    pty_size: tuple[int, int] = (60, 250)
    # Bytes the stdout pipe should hold (pipe mode; 0 = the kernel's 64 KiB): a vendor that
    # exits with output still queued behind a full pipe loses it (Gemini echoing a big prompt).
    stdout_pipe_size: int = 0
    # The vendor CLI's version when the shim can tell it without asking the CLI (package.json,
    # a cached probe): the result's provider.cli_version for vendors that never print it.
    cli_version: str | None = None


class VendorProcess:
    """A started vendor: its pid, how to signal it, and the fds to read."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        self.shared_group = procs.leads_own_group()
        self.pgid = os.getpgrp() if self.shared_group else -1
        self.returncode: int | None = None
        self._pty_master: int | None = None
        setup = procs.child_setup(own_group=not self.shared_group, parent_pid=os.getpid())
        try:
            if launch.pty:
                master, slave = os.openpty()
                rows, cols = launch.pty_size
                fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                try:
                    self._popen = subprocess.Popen(
                        launch.argv,
                        cwd=launch.cwd,
                        env=launch.env,
                        stdin=slave,
                        stdout=slave,
                        stderr=subprocess.PIPE,
                        preexec_fn=setup,
                        close_fds=True,
                    )
                finally:
                    os.close(slave)
                self._pty_master = master
                self.stdout_fd = master
            else:
                self._popen = subprocess.Popen(
                    launch.argv,
                    cwd=launch.cwd,
                    env=launch.env,
                    stdin=subprocess.PIPE if launch.stdin_data is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    preexec_fn=setup,
                    close_fds=True,
                )
                self.stdout_fd = self._popen.stdout.fileno()
                if launch.stdout_pipe_size:
                    try:  # before the vendor can write: it reads its stdin first
                        fcntl.fcntl(self.stdout_fd, fcntl.F_SETPIPE_SZ, launch.stdout_pipe_size)
                    except OSError:
                        pass  # over /proc/sys/fs/pipe-max-size or the user's pipe quota: the default
        except FileNotFoundError as exc:
            raise LaunchError(f"{launch.argv[0]}: not found", missing=True) from exc
        except PermissionError as exc:
            raise LaunchError(f"{launch.argv[0]}: not executable", missing=True) from exc
        except OSError as exc:
            raise LaunchError(f"{launch.argv[0]}: could not start ({exc.strerror})", missing=False) from exc
        self.pid = self._popen.pid
        if not self.shared_group:
            self.pgid = self.pid
        self.stderr_fd = self._popen.stderr.fileno()
        self.stdin_fd = self._popen.stdin.fileno() if self._popen.stdin is not None and not launch.pty else None
        for fd in (self.stdout_fd, self.stderr_fd, self.stdin_fd):
            if fd is not None:
                os.set_blocking(fd, False)

    def poll(self) -> int | None:
        """The exit status once the vendor has ended (negative = killed by that signal)."""
        if self.returncode is None:
            self.returncode = self._popen.poll()
        return self.returncode

    def signal_group(self, sig: int) -> None:
        """Signal the vendor and everything it started in its group (never the shim)."""
        if self.shared_group:
            procs.signal_pids(procs.group_descendants(self.pgid), sig)
        else:
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                pass

    def kill_leftovers(self) -> None:
        """SIGKILL whatever the vendor left behind in its group (a daemonized tool, a
        `sleep` holding our pipes)."""
        self.signal_group(signal.SIGKILL)

    def close_stdin(self) -> None:
        if self._popen.stdin is not None and not self._popen.stdin.closed:
            self._popen.stdin.close()
        self.stdin_fd = None

    def close(self) -> None:
        self.close_stdin()
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is not None:
                stream.close()
        if self._pty_master is not None:
            try:
                os.close(self._pty_master)
            except OSError:
                pass
            self._pty_master = None
