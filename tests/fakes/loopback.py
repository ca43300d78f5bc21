"""What the loopback fake APIs share (fake_anthropic, fake_gemini, fake_responses): a threaded
HTTP server on 127.0.0.1 that a test starts and stops, or uses as a context manager, and that
closes its stalled streams when it stops. Standard library only: the fakes also run as scripts
(`python tests/fakes/fake_x.py`), which import this module by its plain name.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"  # never anything else


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: Any  # the LoopbackFake serving: its handler reads self.server.fake


class LoopbackHandler(BaseHTTPRequestHandler):
    """A fake's request handler: HTTP/1.1 without Nagle's delay (SSE frames go out as written),
    every open connection known to the fake (so `stop()` can end a stalled one), no access log."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    server: LoopbackServer

    @property
    def fake(self) -> Any:
        return self.server.fake

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.fake._lock:
            self.fake._conns.add(self.connection)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""


class LoopbackFake:
    """`start()` binds 127.0.0.1 (port 0 = any free port) and serves in a daemon thread;
    `stop()` shuts it down and ends every connection still open (stalled streams, keep-alive).
    A subclass names its thread and its request handler class."""

    thread_name = "fake-api"

    def __init__(self, port: int = 0, log: Callable[[str], None] | None = None):
        self._want_port = port
        self._log = log
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self):
        if self._server is not None:
            return self
        self._stopping.clear()
        server = LoopbackServer((HOST, self._want_port), self.handler())
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # stalled streams, keep-alive connections
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.server_address[1]


def command_line(description: str) -> argparse.ArgumentParser:
    """A fake's command line: --port, --port-file, --log (a fake adds its own options)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    ap.add_argument("--port-file", help="write the port number to this file once listening")
    ap.add_argument("--log", action="store_true", help="log each request on stderr")
    return ap


def stderr_log(wanted: bool) -> Callable[[str], None] | None:
    return (lambda s: print(s, file=sys.stderr, flush=True)) if wanted else None


def serve_until_signalled(api: LoopbackFake, port_file: str | None) -> int:
    """Serve `api` (started here) until SIGTERM or SIGINT: print `listening <base_url>`, and
    write the port to `port_file` atomically (a reader never sees half a number)."""
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    api.start()
    try:
        if port_file:
            tmp = f"{port_file}.tmp{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(f"{api.port}\n")
            os.replace(tmp, port_file)
        print(f"listening {api.base_url}", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        api.stop()
    return 0
