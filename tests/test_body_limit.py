"""Request bodies are bounded before they are read, over real HTTP: by their Content-Length, and as chunks arrive."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from accord.api.limits import BodyLimit

LIMIT = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Echo:
    """An app that reads the whole body, as Starlette's `request.body()` does, and says how much it read."""

    def __init__(self) -> None:
        self.read: list[int] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        self.read.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


@pytest.fixture
def served() -> Iterator[tuple[str, Echo]]:
    echo = Echo()
    server = uvicorn.Server(uvicorn.Config(BodyLimit(echo, LIMIT, "the body is larger than 1 MiB"), host="127.0.0.1",
                                           port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{server.config.port}", echo
    server.should_exit = True
    thread.join(timeout=30)


def test_a_body_within_the_bound_is_read_whole(served) -> None:
    url, echo = served
    assert httpx.post(url, content=b"x" * LIMIT).text == str(LIMIT)
    assert echo.read == [LIMIT]


def test_a_body_whose_length_is_past_the_bound_is_refused_unread(served) -> None:
    url, echo = served
    answer = httpx.post(url, content=b"x" * (LIMIT + 1))
    assert answer.status_code == 413
    assert answer.json() == {"code": "too_large", "message": "the body is larger than 1 MiB"}
    assert echo.read == [], "the app never started reading"


def test_a_body_sent_in_chunks_is_refused_once_it_grows_past_the_bound(served) -> None:
    """No Content-Length: the app reads until the bound is passed, and no further (64 MiB were on offer)."""
    url, echo = served

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * (1 << 20)

    try:
        answer = httpx.post(url, content=chunks())
    except httpx.WriteError:  # the server may close the connection while the client is still sending
        answer = None
    if answer is not None:
        assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    assert echo.read == []
    assert httpx.post(url, content=b"small").text == "5", "the server still serves"
