"""The HTTP plumbing every local test server shares: a threaded server on 127.0.0.1 calling one `handle` method."""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], bytes]


class LocalServer:
    """Subclasses implement `handle`; use as `with Server(...) as server:` and call `server.endpoint`."""

    def __init__(self) -> None:
        self._http: ThreadingHTTPServer | None = None

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, port: int = 0) -> None:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._http = _QuietServer(("127.0.0.1", port), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._http:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    @property
    def endpoint(self) -> str:
        assert self._http, "server not started"
        return f"http://127.0.0.1:{self._http.server_address[1]}"


class Faults:
    """Faults a local server answers with on request, the next calls first: an HTTP status, or an answer held
    past a client's timeout. `take` at the top of `handle` returns the status to answer with, if any."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []  # what was sent, as sent
        self.held_late = 0  # answers held past a client's timeout
        self.injected: dict[int, int] = {}  # HTTP status answered on request → times
        self._statuses: list[int] = []
        self._slow, self._late = 0, 0.0
        self._faults_lock = threading.Lock()

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next `times` calls with this HTTP status."""
        with self._faults_lock:
            self._statuses.extend([status] * times)

    def answer_late(self, times: int = 1, seconds: float = 0.6) -> None:
        """Hold the next `times` answers for `seconds`."""
        with self._faults_lock:
            self._slow, self._late = times, seconds

    def take(self, body: bytes) -> int | None:
        """Note the call's body; hold it if asked; the status to answer with instead, if one is waiting."""
        with self._faults_lock:
            self.bodies.append(body)
            status = self._statuses.pop(0) if self._statuses else None
            if status is not None:
                self.injected[status] = self.injected.get(status, 0) + 1
            late, self._slow = (self._late if self._slow else 0.0), max(self._slow - 1, 0)
            self.held_late += late > 0
        time.sleep(late)
        return status


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (killed mid-call, as tests do on purpose) is not a server error; the rest is."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_owner: LocalServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes; without this each call waits ~40 ms

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, payload = self.server_owner.handle(method, parts.path, parse_qs(parts.query), body, headers)
        self.send_response(status)
        for name, value in out_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks read the server's own call log instead."""
