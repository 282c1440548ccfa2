"""The collector log without some of its messages (a person's, or events past their retention): each line holding
one is rewritten in place in its segment, at the same length (padded with spaces), without them. Byte offsets stay
valid, so the lake's cursor and a replay read the log as before, and a replay cannot bring them back."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from accord import fastjson
from accord.privacy.subject import Subject
from accord.sources.collector_log import Segment, segments

EDITS_AT_ONCE = 10_000
"""Rewritten lines held before they are written (a sweep of a long log edits many)."""


def messages_of(folder: Path, subject: Subject) -> list[dict[str, Any]]:
    """Every logged message that carries one of the person's values."""
    found = []
    for _, entry in _lines(segments(folder), subject.mentioned_in):
        found += [m for m in entry.get("batch") or [] if subject.mentioned_in(fastjson.dumps(m))]
    return found


def erase(folder: Path, subject: Subject) -> int:
    """Rewrite the lines that hold the person's messages without them; how many messages were erased."""
    return rewrite_without(folder, lambda m, _received: subject.mentioned_in(fastjson.dumps(m)), subject.mentioned_in)


def rewrite_without(folder: Path, gone: Callable[[dict[str, Any], Any], bool],
                    mentioned: Callable[[str], bool] | None = None, only: Segment | None = None) -> int:
    """Rewrite, each in place at its length, the lines holding messages `gone` names (given each message and when
    its line was received), without them; only lines whose text `mentioned` accepts are read (of the segment
    `only`, if given). How many went."""
    edits: list[tuple[Path, int, bytes]] = []
    erased = 0
    for (path, offset, length), entry in _lines([only] if only else segments(folder), mentioned):
        kept = [m for m in entry["batch"] if not gone(m, entry.get("receivedAt"))]
        went = len(entry["batch"]) - len(kept)
        if not went:
            continue
        line = fastjson.dumps({"receivedAt": entry.get("receivedAt"), "batch": kept, "erased": went}).encode()
        if len(line) > length:  # only when a tiny message went: the count is what gives
            line = fastjson.dumps({"receivedAt": entry.get("receivedAt"), "batch": kept}).encode()
        edits.append((path, offset, line.ljust(length)))
        erased += went
        if len(edits) >= EDITS_AT_ONCE:
            _write(edits)
            edits = []
    _write(edits)
    return erased


def _write(edits: list[tuple[Path, int, bytes]]) -> None:
    for path in dict.fromkeys(path for path, _, _ in edits):
        try:
            f = path.open("r+b")
        except FileNotFoundError:  # removed, as loaded, since it was read: nothing of it is left
            continue
        with f:
            for _, offset, line in (e for e in edits if e[0] == path):
                f.seek(offset)
                f.write(line)
            f.flush()
            os.fsync(f.fileno())


def _lines(read: list[Segment], mentioned: Callable[[str], bool] | None
           ) -> Iterator[tuple[tuple[Path, int, int], dict[str, Any]]]:
    """(segment, offset in it, length without its newline) and entry of each whole line of the segments `read`
    whose text `mentioned` accepts (each line without it)."""
    for segment in read:
        offset = 0
        try:
            f = segment.path.open("rb")
        except FileNotFoundError:  # removed, as loaded, since it was listed
            continue
        with f:
            for raw in f:
                body = raw.rstrip(b"\n")
                if raw.endswith(b"\n") and (mentioned is None or mentioned(body.decode("utf-8", "replace"))):
                    try:
                        entry = fastjson.loads(body)
                    except ValueError:
                        entry = None
                    if isinstance(entry, dict) and isinstance(entry.get("batch"), list):
                        yield (segment.path, offset, len(body)), entry
                offset += len(raw)
