"""The collector log without some of its messages (a person's, or events past their retention): each line holding
one is rewritten in place, at the same length (padded with spaces), without them. Byte offsets stay valid, so the
lake's cursor and a replay read the log as before, and a replay cannot bring them back."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from accord import fastjson
from accord.privacy.subject import Subject
from accord.sources.collector import LOG_NAME
from accord.workspace import Workspace

EDITS_AT_ONCE = 10_000
"""Rewritten lines held before they are written (a sweep of a long log edits many)."""


def log_path(ws: Workspace, sandbox: str | None) -> Path:
    """Where `accord serve` keeps the sandbox's collector log."""
    return ws.lake_path(sandbox).parent / "collector" / LOG_NAME


def messages_of(path: Path, subject: Subject) -> list[dict[str, Any]]:
    """Every logged message that carries one of the person's values."""
    found = []
    for _, entry in _lines(path, subject.mentioned_in):
        found += [m for m in entry.get("batch") or [] if subject.mentioned_in(fastjson.dumps(m))]
    return found


def erase(path: Path, subject: Subject) -> int:
    """Rewrite the lines that hold the person's messages without them; how many messages were erased."""
    return rewrite_without(path, lambda m, _received: subject.mentioned_in(fastjson.dumps(m)), subject.mentioned_in)


def rewrite_without(path: Path, gone: Callable[[dict[str, Any], Any], bool],
                    mentioned: Callable[[str], bool] | None = None) -> int:
    """Rewrite, each in place at its length, the lines holding messages `gone` names (given each message and when
    its line was received), without them; only lines whose text `mentioned` accepts are read. How many went."""
    edits: list[tuple[int, bytes]] = []
    erased = 0
    for (offset, length), entry in _lines(path, mentioned):
        kept = [m for m in entry["batch"] if not gone(m, entry.get("receivedAt"))]
        went = len(entry["batch"]) - len(kept)
        if not went:
            continue
        line = fastjson.dumps({"receivedAt": entry.get("receivedAt"), "batch": kept, "erased": went}).encode()
        if len(line) > length:  # only when a tiny message went: the count is what gives
            line = fastjson.dumps({"receivedAt": entry.get("receivedAt"), "batch": kept}).encode()
        edits.append((offset, line.ljust(length)))
        erased += went
        if len(edits) >= EDITS_AT_ONCE:
            _write(path, edits)
            edits = []
    _write(path, edits)
    return erased


def _write(path: Path, edits: list[tuple[int, bytes]]) -> None:
    if edits:
        with path.open("r+b") as f:
            for offset, line in edits:
                f.seek(offset)
                f.write(line)
            f.flush()
            os.fsync(f.fileno())


def _lines(path: Path, mentioned: Callable[[str], bool] | None) -> Iterator[tuple[tuple[int, int], dict[str, Any]]]:
    """(offset, length without its newline) and entry of each whole line whose text `mentioned` accepts (each
    line without it)."""
    if not path.exists():
        return
    offset = 0
    with path.open("rb") as f:
        for raw in f:
            body = raw.rstrip(b"\n")
            if raw.endswith(b"\n") and (mentioned is None or mentioned(body.decode("utf-8", "replace"))):
                try:
                    entry = fastjson.loads(body)
                except ValueError:
                    entry = None
                if isinstance(entry, dict) and isinstance(entry.get("batch"), list):
                    yield (offset, len(body)), entry
            offset += len(raw)
