"""The CLI beside a running `accord serve`: DuckDB lets one process hold a sandbox's store, so while serve runs, CLI
commands on that sandbox are sent to it and run there, in turn, with their output and exit code sent back.

Serve announces itself in `<sandbox data folder>/serve.json` (its address, process id and a token readable only by
the file's owner, who could open the store anyway); the CLI reads it, and falls back to running in its own process
when no live server is announced.
"""

from __future__ import annotations

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
    """Have the server run `accord <argv>`; returns its exit code, stdout and stderr."""
    answer = httpx.post(f"{server.url}/_relay", json={"argv": argv, "env": env},
                        headers={TOKEN_HEADER: server.token}, timeout=None)
    answer.raise_for_status()
    return answer.json()  # type: ignore[no-any-return]


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

    from accord.cli import app

    if argv and argv[0] in LOCAL_ONLY:
        return {"exit_code": 2, "stdout": "", "stderr": f"error: `accord {argv[0]}` runs only where it is typed\n"}
    if argv[:1] == ["run"] and any(a.startswith("--every") or a == "--scheduled" for a in argv):
        return {"exit_code": 2, "stdout": "", "stderr": "error: `accord serve` runs this sandbox now: set "
                "`audiences.schedule` in accord.yaml for repeated runs instead of `accord run --every`\n"}
    with _turn:
        result = CliRunner().invoke(app, argv, env=env, catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += f"error: {type(result.exception).__name__}: {result.exception}\n"
    return {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": stderr}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
