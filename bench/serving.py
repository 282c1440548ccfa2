"""What the benches that drive `accord serve`'s app over HTTP share: the app served in this process, and a lean
HTTP/1.1 client that times GETs (httpx's pool, at 200 connections, costs more than the server it measures; so
does asyncio's own event loop, next to uvloop's)."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
import uvloop
from fastapi import FastAPI


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn in a thread on a free port of 127.0.0.1, its lifespan included; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def gets(base: str, paths: list[str], connections: int, rate: float | None,
         headers: dict[str, str] | None = None) -> list[float]:
    """Each GET's milliseconds over `connections` kept-alive connections (run it in its own process). With `rate`,
    request i is due at i / rate seconds and timed from then, so a server falling behind is charged for the wait;
    without, every connection sends its next request as soon as the last answered (the most the server can do)."""
    return uvloop.run(_gets(base, paths, connections, rate, headers or {}))


async def _gets(base: str, paths: list[str], connections: int, rate: float | None,
                headers: dict[str, str]) -> list[float]:
    host, port = base.removeprefix("http://").split(":")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    due: asyncio.Queue[tuple[float | None, str] | None] = asyncio.Queue()
    times: list[float] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while (item := await due.get()) is not None:
            at, path = item
            sent = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            body = await reader.readexactly(int(length.group(1)) if length else 0)
            times.append((time.perf_counter() - (at or sent)) * 1000)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{path}: {head.splitlines()[0].decode()} {body[:200]!r}")
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    await asyncio.sleep(0.2)  # connections open before the clock starts
    start = time.perf_counter()
    for i, path in enumerate(paths):
        if rate:
            at = start + i / rate
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            due.put_nowait((at, path))
        else:
            due.put_nowait((None, path))
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    return times
