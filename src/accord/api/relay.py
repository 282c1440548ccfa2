"""The CLI beside a running `accord serve`: DuckDB lets one process hold a sandbox's store, so while serve runs, CLI
commands on that sandbox are sent to it and run there, in turn, with their output and exit code sent back.

Serve announces itself in `<sandbox data folder>/serve.json` (its address, process id and a token readable only by
the file's owner, who could open the store anyway); the CLI reads it, and falls back to running in its own process
when no live server is announced.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from accord.replaced import replace_text

ANNOUNCEMENT = "serve.json"
TOKEN_HEADER = "X-Accord-Relay"
LOCAL_ONLY = {"serve", "init", "demo", "generate", "mappings", "sandboxes"}
"""Commands that never touch a served store (or start one), so they always run where they are typed."""

_turn = threading.Lock()


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


def forward(server: Announcement, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Have the server run `accord <argv>`; returns its exit code, and its stdout and stderr as bytes."""
    command = {"argv": [packed(arg) for arg in argv], "env": {name: packed(value) for name, value in env.items()}}
    answer = httpx.post(f"{server.url}/_relay", json=command, headers={TOKEN_HEADER: server.token}, timeout=None)
    answer.raise_for_status()
    done = answer.json()
    return {"exit_code": done["exit_code"], "stdout": base64.b64decode(done["stdout"]),
            "stderr": base64.b64decode(done["stderr"])}


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


def execute(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a relayed command here, one at a time (a command's output is captured for the whole process)."""
    from typer.testing import CliRunner

    from accord.cli import app, failure

    if argv and argv[0] in LOCAL_ONLY:
        return _done(2, b"", f"error: `accord {argv[0]}` runs only where it is typed\n".encode())
    if argv[:1] == ["run"] and any(a.startswith("--every") or a == "--scheduled" for a in argv):
        return _done(2, b"", b"error: `accord serve` runs this sandbox now: set `audiences.schedule` in accord.yaml "
                             b"for repeated runs instead of `accord run --every`\n")
    with _turn:
        result = CliRunner().invoke(app, argv, env=env, catch_exceptions=True)
    stderr = result.stderr_bytes
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += f"error: {failure(result.exception, argv)}\n".encode("utf-8", "surrogateescape")
    return _done(result.exit_code, result.stdout_bytes, stderr)


def _done(exit_code: int, stdout: bytes, stderr: bytes) -> dict[str, Any]:
    """A relayed command's answer: its output as the bytes it wrote, in base64."""
    return {"exit_code": exit_code, "stdout": base64.b64encode(stdout).decode("ascii"),
            "stderr": base64.b64encode(stderr).decode("ascii")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
