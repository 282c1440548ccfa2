"""What ad platforms say of the lists Accord keeps there (state, matched, size to target), read after delivery runs
and kept per destination and audience."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from accord.activation.destination import Destination
from accord.lake.store import Lake, now

READ_EVERY = timedelta(minutes=15)
"""The longest a reading stands before a run reads it again. Platforms count over hours (Google's sizes take a day),
so a streaming destination's run every few seconds would learn nothing new from asking each time."""


def due(lake: Lake, destination: str, audiences: list[str]) -> list[str]:
    """Of `audiences`, those never read at `destination` or read longer than `READ_EVERY` ago."""
    fresh = {str(r[0]) for r in lake.execute(
        "SELECT audience FROM destination_reach WHERE destination = ? AND checked_at > ?",
        [destination, now() - READ_EVERY]).fetchall()}
    return [a for a in audiences if a not in fresh]


def read_reach(lake: Lake, name: str, destination: Destination, audiences: list[str]) -> dict[str, str]:
    """Ask the platform of each audience and keep what it says; a question it cannot answer keeps the last answer
    with the error beside it (never the delivery's failure). Audience → error, for those that failed."""
    failed: dict[str, str] = {}
    for audience in audiences:
        try:
            said = destination.reach(audience)
        except Exception as err:  # noqa: BLE001 - a platform's figures are information, not a delivery
            failed[audience] = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            lake.execute(
                "INSERT INTO destination_reach (destination, audience, checked_at, state, error) "
                "VALUES (?, ?, ?, 'unread', ?) ON CONFLICT DO UPDATE SET checked_at = excluded.checked_at, "
                "error = excluded.error", [name, audience, now(), failed[audience]])
            continue
        if said is None:  # no list there yet: nothing sent to it
            continue
        figures = asdict(said)
        lake.execute(
            "INSERT OR REPLACE INTO destination_reach (destination, audience, checked_at, state, matched, uploaded, "
            "size_low, size_high, match_rate, note, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [name, audience, now(), *(figures[k] for k in ("state", "matched", "uploaded", "size_low", "size_high",
                                                          "match_rate", "note"))])
    return failed


def reach_rows(lake: Lake, destination: str | None = None) -> list[dict[str, Any]]:
    """The last reading of each audience (of one destination, or all), beside how many members Accord has had
    acknowledged there."""
    where, params = ("WHERE r.destination = ?", [destination]) if destination else ("", [])
    return lake.query(
        "SELECT r.*, (SELECT count(*) FROM destination_members m WHERE m.destination = r.destination "
        f"AND m.audience = r.audience) AS held FROM destination_reach r {where} ORDER BY r.destination, r.audience",
        params)


def platform_size(low: int | None, high: int | None) -> str:
    """A size a platform reports, as read: one number, or a range of two."""
    if low is None or high is None or low == high:
        one = low if low is not None else high
        return "" if one is None else f"{one:,}"
    return f"{low:,}–{high:,}"
