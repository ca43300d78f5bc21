"""A throwaway PostgreSQL server for the tests and the bench: a temporary data folder, loopback
only, stopped and removed after.

The server runs as the `postgres` user when we are root (initdb refuses to run as root), with
a clean environment (no test's mark, no XDG folders). It listens on 127.0.0.1 on a free port and
on a unix socket in its data folder; `stop()` and `start()` again keep the port and the data, for
tests that take the database away mid-run. The role the shims use (`shims`) logs in with a
password over TCP (scram-sha-256, as a real fleet would), the superuser through the socket.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid

INSTALL_HINT = ("PostgreSQL's server programs (initdb, pg_ctl) were not found: run `make postgres` "
                "(apt-get install postgresql) or put their folder on PATH")

ROLE = "shims"
PASSWORD = "shims-test-" + "pw-0123456789"  # long enough that the redactor would mask it if printed


class PostgresMissing(RuntimeError):
    pass


def bindir() -> str:
    """The folder with initdb and pg_ctl: pg_config's answer, Debian's versioned folder, or PATH."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    if shutil.which("initdb"):
        candidates.append(os.path.dirname(os.path.realpath(shutil.which("initdb"))))
    for folder in candidates:
        if folder and all(os.access(os.path.join(folder, p), os.X_OK) for p in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresMissing(INSTALL_HINT)


def _version(folder: str) -> int:
    try:
        return int(folder.rstrip("/").split("/")[-2])
    except ValueError:
        return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self) -> None:
        self.bin = bindir()
        # In /tmp, not $TMPDIR: the unix socket's path must stay under 108 bytes, and the
        # `postgres` user must reach the folder (pytest's temp folders are 0700 root's).
        self.root = tempfile.mkdtemp(prefix="codex-shims-pg-", dir="/tmp" if os.path.isdir("/tmp") else None)
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "server.log")
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.running = False

    # ---- process handling

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=self.root, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()} {self._log_tail()}")
        return out

    def _log_tail(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def init(self) -> PgServer:
        self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres", "-E", "UTF8",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        return self

    def start(self) -> None:
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=16MB")
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", "30", "start")
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop")
            self.running = False

    def pids(self) -> list[int]:
        """The server's processes: the postmaster (postmaster.pid's first line) and its children."""
        with open(os.path.join(self.data, "postmaster.pid"), encoding="ascii") as f:
            main = int(f.readline())
        found = [main]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == main:
                            found.append(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
        return found

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    # ---- roles and databases

    def admin(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(host=self.root, port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def setup_role(self) -> None:
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(ROLE), sql.Literal(PASSWORD)))

    def new_database(self) -> str:
        """A fresh database owned by the shims' role, as the README tells a DBA to make it; its URL."""
        from psycopg import sql

        name = "t_" + uuid.uuid4().hex[:12]
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(ROLE)))
        return self.url(name)

    def url(self, dbname: str) -> str:
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"


def started() -> PgServer:
    server = PgServer()
    try:
        server.init()
        server.start()
        server.setup_role()
    except BaseException:
        server.destroy()
        raise
    return server


if __name__ == "__main__":  # `make postgres`: is there a server to start? (the folder, or exit 1)
    import sys

    try:
        print(bindir())
    except PostgresMissing as exc:
        sys.exit(str(exc))
