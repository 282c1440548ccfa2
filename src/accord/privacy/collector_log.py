"""The collector log without a person's messages: each line holding one is rewritten in place, at the same length
(padded with spaces), without them. Byte offsets stay valid, so the lake's cursor and a replay read the log as
before, and a replay cannot bring the person back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from accord import fastjson
from accord.privacy.subject import Subject
from accord.sources.collector import LOG_NAME
from accord.workspace import Workspace


def log_path(ws: Workspace, sandbox: str | None) -> Path:
    """Where `accord serve` keeps the sandbox's collector log."""
    return ws.lake_path(sandbox).parent / "collector" / LOG_NAME


def messages_of(path: Path, subject: Subject) -> list[dict[str, Any]]:
    """Every logged message that carries one of the person's values."""
    found = []
    for _, entry in _lines(path, subject):
        found += [m for m in entry.get("batch") or [] if subject.mentioned_in(fastjson.dumps(m))]
    return found


def erase(path: Path, subject: Subject) -> int:
    """Rewrite the lines that hold the person's messages without them; how many messages were erased."""
    edits, erased = [], 0
    for (offset, length), entry in _lines(path, subject):
        kept = [m for m in entry["batch"] if not subject.mentioned_in(fastjson.dumps(m))]
        gone = len(entry["batch"]) - len(kept)
        if not gone:
            continue
        line = fastjson.dumps({"receivedAt": entry.get("receivedAt"), "batch": kept, "erased": gone}).encode()
        if len(line) > length:  # only when a tiny message went: the count is what gives
            line = fastjson.dumps({"receivedAt": entry.get("receivedAt"), "batch": kept}).encode()
        edits.append((offset, line.ljust(length)))
        erased += gone
    if edits:
        with path.open("r+b") as f:
            for offset, line in edits:
                f.seek(offset)
                f.write(line)
            f.flush()
            os.fsync(f.fileno())
    return erased


def _lines(path: Path, subject: Subject) -> list[tuple[tuple[int, int], dict[str, Any]]]:
    """(offset, length without its newline) and entry of each line that mentions the person."""
    if not path.exists():
        return []
    out, offset = [], 0
    with path.open("rb") as f:
        for raw in f:
            body = raw.rstrip(b"\n")
            if subject.mentioned_in(body.decode("utf-8", "replace")):
                try:
                    entry = fastjson.loads(body)
                except ValueError:
                    entry = None
                if isinstance(entry, dict) and isinstance(entry.get("batch"), list):
                    out.append(((offset, len(body)), entry))
            offset += len(raw)
    return out
