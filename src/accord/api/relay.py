"""The CLI beside a running `accord serve`: DuckDB lets one process hold a sandbox's store, so while serve runs, CLI
commands on that sandbox are sent to it and run there, in turn; their output comes back as they write it (a
backfill can run for hours), then their exit code.

Serve announces itself in `<sandbox data folder>/serve.json` (its address, process id and a token readable only by
the file's owner, who could open the store anyway); the CLI reads it, and falls back to running in its own process
when no live server is announced.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import queue
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from click.testing import Result
from typer.testing import CliRunner

from accord.replaced import replace_text

ANNOUNCEMENT = "serve.json"
TOKEN_HEADER = "X-Accord-Relay"
LOCAL_ONLY = {"serve", "init", "demo", "generate", "mappings", "sandboxes"}
"""Commands that never touch a served store (or start one), so they always run where they are typed."""

POLL_SECONDS = 0.2
"""How often a relayed command's new output is sent on while it runs."""

_turn = threading.Lock()
_running: list[str] = []


@dataclass(frozen=True)
class Announcement:
    url: str
    pid: int
    token: str


def announce(folder: Path, url: str) -> Announcement:
    """Write the announcement of a server on `url` (owner-only permissions); returns it."""
    mine = Announcement(url, os.getpid(), secrets.token_urlsafe(24))
    path = folder / ANNOUNCEMENT
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_text(path, json.dumps(mine.__dict__), mode=0o600)
    return mine


def withdraw(folder: Path, mine: Announcement) -> None:
    """Remove the announcement if it is still this server's."""
    if announced(folder, alive_only=False) == mine:
        (folder / ANNOUNCEMENT).unlink(missing_ok=True)


def announced(folder: Path, alive_only: bool = True) -> Announcement | None:
    """The server announced for a sandbox folder, if its process still runs (and is not this one)."""
    try:
        found = Announcement(**json.loads((folder / ANNOUNCEMENT).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if alive_only and (found.pid == os.getpid() or not _alive(found.pid)):
        return None
    return found


def forward(server: Announcement, argv: list[str], env: dict[str, str]) -> int:
    """Have the server run `accord <argv>`, writing its output here as the server sends it; returns the command's
    exit code."""
    streams = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    command = {"argv": [packed(arg) for arg in argv], "env": {name: packed(value) for name, value in env.items()}}
    with httpx.stream("POST", f"{server.url}/_relay", json=command, headers={TOKEN_HEADER: server.token},
                      timeout=None) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            if not line:
                continue
            part = json.loads(line)
            if "exit_code" in part:
                return int(part["exit_code"])
            stream = streams[part["stream"]]
            stream.write(base64.b64decode(part["bytes"]))  # as the command wrote it: a file name may be no UTF-8
            stream.flush()
    raise ConnectionError("the server ended the command's answer before its exit code")


def received(body: Any) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of a relayed command; ValueError if the body is not one."""
    argv, env = (body.get("argv"), body.get("env")) if isinstance(body, dict) else (None, None)
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not isinstance(env, dict) \
            or not all(isinstance(v, str) for v in env.values()):
        raise ValueError("a relayed command is {argv: [str], env: {str: str}}, each text in base64")
    try:
        return [unpacked(arg) for arg in argv], {str(name): unpacked(value) for name, value in env.items()}
    except binascii.Error:
        raise ValueError("a relayed command's texts are base64") from None


def packed(text: str) -> str:
    """Text as the relay carries it: its bytes in base64. An argument may be a file name that is no UTF-8 (Python
    holds its bytes as lone surrogates), which JSON could not carry; it arrives as the same name."""
    return base64.b64encode(text.encode("utf-8", "surrogateescape")).decode("ascii")


def unpacked(text: str) -> str:
    return base64.b64decode(text, validate=True).decode("utf-8", "surrogateescape")


def absolute_paths(argv: list[str], cwd: Path) -> list[str]:
    """Arguments naming existing files or folders, made absolute: the server runs in its own folder."""
    out = []
    for arg in argv:
        option, equals, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if value and not value.startswith("-") and (cwd / value).exists():
            value = str((cwd / value).resolve())
        out.append(f"{option}{equals}{value}")
    return out


def execute(argv: list[str], env: dict[str, str], after: Callable[[], None] = lambda: None) -> Iterator[bytes]:
    """Run a relayed command here, one at a time (a command's output is captured for the whole process), then
    `after`: its answer as JSON lines, each a piece of its output as it comes, the last its exit code."""
    refused = _refused(argv)
    if refused is not None:
        yield _output("stderr", refused.encode())
        yield _exit(2)
        return
    parts: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    # The command runs on in its own thread whether or not anyone still reads: a client gone away must not leave
    # the turn taken.
    threading.Thread(target=_run, args=(argv, env, after, parts.put), name="relayed command", daemon=True).start()
    while (part := parts.get()) is not None:
        yield part


def _run(argv: list[str], env: dict[str, str], after: Callable[[], None], send: Callable[[bytes | None], None]) -> None:
    from accord.cli import failure

    try:
        if not _turn.acquire(blocking=False):
            waiting_for = _running[0] if _running else "another command"
            send(_output("stderr", f"waiting: accord serve is running `{waiting_for}`; this command starts when it "
                                   f"ends\n".encode()))
            _turn.acquire()
        try:
            _running[:] = [f"accord {argv[0]}" if argv else "accord"]
            result, sent = _invoke(argv, env, send)
            stderr = result.stderr_bytes
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                stderr += f"error: {failure(result.exception, argv)}\n".encode("utf-8", "surrogateescape")
            for part in _new_output({"stdout": result.stdout_bytes, "stderr": stderr}, sent):
                send(part)
            after()
            send(_exit(result.exit_code))
        finally:
            _running.clear()
            _turn.release()
    except Exception as err:  # noqa: BLE001 - the client is owed one line and an exit code, whatever failed here
        send(_output("stderr", f"error: {failure(err, argv)}\n".encode("utf-8", "surrogateescape")))
        send(_exit(1))
    finally:
        send(None)


def _invoke(argv: list[str], env: dict[str, str], send: Callable[[bytes], None]) -> tuple[Result, dict[str, int]]:
    """The command run in a thread of its own, its output sent on while it runs; with how much of it was sent."""
    from accord.cli import app

    runner = _WatchedRunner()
    done: list[Result] = []
    worker = threading.Thread(target=lambda: done.append(runner.invoke(app, argv, env=env, catch_exceptions=True)),
                              name="relayed command's output", daemon=True)
    worker.start()
    sent = {"stdout": 0, "stderr": 0}
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        for part in _new_output(runner.captured(), sent):
            send(part)
    return done[0], sent


def _refused(argv: list[str]) -> str | None:
    """Why the server does not run this command, if it does not."""
    if argv and argv[0] in LOCAL_ONLY:
        return f"error: `accord {argv[0]}` runs only where it is typed\n"
    if argv[:1] == ["run"] and any(a.startswith("--every") or a == "--scheduled" for a in argv):
        return ("error: `accord serve` runs this sandbox now: set `audiences.schedule` in accord.yaml for repeated "
                "runs instead of `accord run --every`\n")
    return None


class _WatchedRunner(CliRunner):
    """A runner whose captured output can be read while its command still runs."""

    def __init__(self) -> None:
        super().__init__()
        self.streams: dict[str, io.BytesIO] = {}

    @contextmanager
    def isolation(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with super().isolation(*args, **kwargs) as streams:
            self.streams = {"stdout": streams[0], "stderr": streams[1]}
            yield streams

    def captured(self) -> dict[str, bytes]:
        try:
            return {name: stream.getvalue() for name, stream in self.streams.items()}
        except ValueError:  # the command has just ended, closing them: its result holds what they held
            return {}


def _new_output(captured: dict[str, bytes], sent: dict[str, int]) -> Iterator[bytes]:
    for name, written in captured.items():
        if len(written) > sent[name]:
            yield _output(name, written[sent[name]:])
            sent[name] = len(written)


def _output(stream: str, data: bytes) -> bytes:
    return json.dumps({"stream": stream, "bytes": base64.b64encode(data).decode("ascii")}).encode() + b"\n"


def _exit(code: int) -> bytes:
    return json.dumps({"exit_code": code}).encode() + b"\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
