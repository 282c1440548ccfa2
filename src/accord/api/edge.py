"""The profile edge: `GET /api/v1/profiles/{identity}/summary` served by a process of its own from the served copy
of people, so neither the lake's work nor the collector's requests (which hold the main process's GIL and cores)
stand between a rendering page and its answer. `serve` starts it on its own port."""

from __future__ import annotations

import gc
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson

from accord.api.keys import API_KEY_REQUIRED, holder
from accord.profiles.lookup import ProfileNotFound
from accord.profiles.serving import ServedProfiles

PREFIX, SUFFIX = "/api/v1/profiles/", "/summary"
BACKLOG = 2048
"""Connections the kernel queues for the edge (uvicorn's own default)."""
ORPHAN_CHECK_EVERY = 1.0
"""Seconds between the edge's checks that `serve` still runs (after a `kill -9` nobody would stop it)."""

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class EdgeApp:
    """The edge's ASGI app. No framework: a read is a few SQLite lookups, and a framework's routing, dependencies
    and encoders would cost more than the read (p99 11 ms with FastAPI against 5 ms without, on `large`)."""

    def __init__(self, copy: Path) -> None:
        self.served = ServedProfiles(copy)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # served without lifespan
        status, body = self.answer(scope["method"], scope["path"], scope["query_string"], dict(scope["headers"]))
        encoded = orjson.dumps(body)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode())]
        if status == 503:
            headers.append((b"retry-after", b"1"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": encoded})

    def answer(self, method: str, path: str, query: bytes, headers: dict[bytes, bytes]) -> tuple[int, Any]:
        """Status and JSON body, as the main app answers the same request (errors are `{"code", "message"}`)."""
        if path == "/health":
            return 200, {"ok": True, "ready": self.served.ready}
        identity = path[len(PREFIX):-len(SUFFIX)]
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX) and identity):
            return 404, _error("not_found", f"the profile edge serves GET {PREFIX}{{identity}}{SUFFIX} and /health")
        if method != "GET":
            return 405, _error("method_not_allowed", f"{method} is not allowed here: GET a summary")
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        secret = authorization[7:] if authorization.lower().startswith("bearer ") else ""
        if not secret or holder(secret, self.served.keys()) is None:
            return 401, _error("unauthorized", API_KEY_REQUIRED)
        asked = parse_qs(query.decode("latin-1")).get("attributes", [""])[-1]
        try:
            found = self.served.summary(identity, [a for a in asked.split(",") if a])
        except ProfileNotFound as err:
            return 404, _error("not_found", str(err))
        except ValueError as err:
            return 400, _error("bad_request", str(err))
        if found is None:
            return 503, _error("not_ready", "the served copy of people is being made; ask again in a moment")
        return 200, found


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


@dataclass
class Edge:
    """The edge process of one `serve`, to listen on `host`:`port` (0: any free port)."""

    host: str
    port: int
    url: str | None = None
    error: str | None = None
    _socket: socket.socket | None = None
    _process: BaseProcess | None = None

    def listen(self) -> str | None:
        """Bind the port (once), so that a taken port is told before anything starts; the error, if any."""
        if self._socket is None and self.error is None:
            listening = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            try:
                listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listening.bind((self.host, self.port))
                listening.listen(BACKLOG)  # requests wait in the queue while the edge process starts
            except OSError as err:
                listening.close()
                self.error = f"the profile edge could not listen on {self.host}:{self.port}: {err.strerror}"
                return self.error
            reachable = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            host = f"[{reachable}]" if ":" in reachable else reachable
            self._socket, self.url = listening, f"http://{host}:{listening.getsockname()[1]}"
        return self.error

    def start(self, copy: Path) -> None:
        """Hand the listening socket to a new process serving the copy at `copy`."""
        if self.listen() is not None or self._socket is None:
            return
        spawn = multiprocessing.get_context("spawn")
        self._process = spawn.Process(target=_serve, args=(copy, self._socket, os.getpid()), name="accord-edge",
                                      daemon=True)
        self._process.start()
        self._socket.close()  # the edge holds its own copy of it now
        self._socket = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()

    def status(self) -> dict[str, Any]:
        """Where it listens and whether it runs, for `/health`."""
        error = self.error
        if error is None and self._process is not None and self._process.exitcode is not None:
            error = f"the profile edge stopped (exit code {self._process.exitcode})"
        running = error is None and self._process is not None
        return {"url": self.url, "running": running, "pid": self._process.pid if running else None, "error": error}


def _serve(copy: Path, listening: socket.socket, parent: int) -> None:
    """The edge process: serve until stopped, or until `serve` is gone."""
    import uvicorn

    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    gc.collect()
    gc.freeze()  # what is loaded by now lives as long as the process: full collections skip it
    server = uvicorn.Server(uvicorn.Config(EdgeApp(copy), log_level="warning", lifespan="off", access_log=False))
    server.run(sockets=[listening])


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_EVERY)
    os._exit(0)
