"""Run a command and report its peak RSS, measured cleanly.

On Linux a child's ru_maxrss starts from its parent's resident size at fork time (the pre-exec
high-water mark is kept across execve), so measuring a shim forked straight from a large pytest
process would count pytest. This small process forks the command instead and prints the
command's peak RSS in KiB as the last stderr line: `rss_kib N`. The command's stdout is ours.
"""

import os
import sys


def main(argv: list[str]) -> int:
    pid = os.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    print(f"rss_kib {usage.ru_maxrss}", file=sys.stderr)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
