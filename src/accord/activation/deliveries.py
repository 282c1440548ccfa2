"""Delivery runs, receipts and the dead-letter list, as the CLI and the API show them."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from accord.lake.store import Lake, now

RUNNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
"""This process, as `delivery_runs.runner` names it: one lake file is held by one process at a time, so a run still
`running` under another runner was cut off."""


def mark_interrupted(lake: Lake) -> int:
    """Runs left `running` by a process that is gone become `interrupted` (the next run settles their changes)."""
    left = "status = 'running' AND runner IS DISTINCT FROM ?"
    if not lake.scalar(f"SELECT count(*) FROM delivery_runs WHERE {left}", [RUNNER]):
        return 0  # the usual case, and a read: every run asks, and a write would wait on the store's other writers
    rows = lake.execute(
        "UPDATE delivery_runs SET status = 'interrupted', finished_at = coalesce(finished_at, ?), "
        "error = coalesce(error, 'the process running it stopped (killed or crashed); the next run resumes it') "
        f"WHERE {left} RETURNING run_id", [now(), RUNNER]).fetchall()
    return len(rows)


def list_runs(lake: Lake, destination: str | None = None, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
    where, params = ("WHERE destination = ?", [destination]) if destination else ("", [])
    return lake.query(
        f"SELECT *, epoch(finished_at) - epoch(started_at) AS seconds FROM delivery_runs {where} "
        f"ORDER BY run_id DESC LIMIT {int(limit)} OFFSET {int(offset)}", params)


def run_details(lake: Lake, run_id: int) -> dict[str, Any] | None:
    runs = lake.query("SELECT *, epoch(finished_at) - epoch(started_at) AS seconds FROM delivery_runs "
                      "WHERE run_id = ?", [run_id])
    if not runs:
        return None
    run = runs[0]
    run["by_outcome"] = lake.query(
        "SELECT audience, change, outcome, coalesce(reason, '') AS reason, count(*) AS members FROM delivery_receipts "
        "WHERE run_id = ? GROUP BY ALL ORDER BY ALL", [run_id])
    return run


def receipts(lake: Lake, run_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    return lake.query(f"SELECT * FROM delivery_receipts WHERE run_id = ? ORDER BY recorded_at, profile_id LIMIT {int(limit)}",
                      [run_id])


def dead_letters(lake: Lake, destination: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE destination = ?", [destination]) if destination else ("", [])
    return lake.query(f"SELECT * FROM delivery_dead_letters {where} ORDER BY failed_at", params)


def dead_letter_count(lake: Lake, destination: str | None = None) -> int:
    where, params = ("WHERE destination = ?", [destination]) if destination else ("", [])
    return int(lake.scalar(f"SELECT count(*) FROM delivery_dead_letters {where}", params))


def release_dead_letters(lake: Lake, destination: str) -> int:
    """Put a destination's dead letters back into play: the next run sends them again."""
    count = dead_letter_count(lake, destination)
    lake.execute("DELETE FROM delivery_dead_letters WHERE destination = ?", [destination])
    return count
