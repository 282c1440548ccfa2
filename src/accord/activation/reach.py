"""What ad platforms say of the lists Accord keeps there (state, matched, size to target), read after delivery runs
and kept per destination and audience."""

from __future__ import annotations

from dataclasses import astuple, fields
from datetime import timedelta
from typing import Any

from accord.activation.destination import Destination, Reach
from accord.lake.store import Lake, now

FIGURES = [f.name for f in fields(Reach)]
"""The columns of a reading, in the order a `Reach` holds them."""
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
        lake.execute(
            f"INSERT OR REPLACE INTO destination_reach (destination, audience, checked_at, {', '.join(FIGURES)}, "
            f"error) VALUES (?, ?, ?, {', '.join('?' * len(FIGURES))}, NULL)", [name, audience, now(), *astuple(said)])
    return failed


def forget_others(lake: Lake, destination: str, audiences: list[str]) -> None:
    """Drop the readings of audiences `destination` no longer sends (taken out of accord.yaml)."""
    stale = "FROM destination_reach WHERE destination = ? AND NOT list_contains(?, audience)"
    if lake.scalar(f"SELECT count(*) {stale}", [destination, audiences]):  # a read, as every run asks
        lake.execute(f"DELETE {stale}", [destination, audiences])


def readings(lake: Lake, destinations: list[str]) -> list[dict[str, Any]]:
    """The last reading of each audience of `destinations` (those configured: a removed one's are history)."""
    return lake.query("SELECT * FROM destination_reach WHERE list_contains(?, destination) "
                      "ORDER BY destination, audience", [destinations])


def reach_rows(lake: Lake, destinations: list[str]) -> list[dict[str, Any]]:
    """`readings`, each beside how many members Accord has had acknowledged there (`held`), as they are shown."""
    return lake.query(
        "SELECT r.*, (SELECT count(*) FROM destination_members m WHERE m.destination = r.destination "
        "AND m.audience = r.audience) AS held FROM destination_reach r WHERE list_contains(?, r.destination) "
        "ORDER BY r.destination, r.audience", [destinations])


def unusable(lake: Lake, destinations: list[str]) -> list[dict[str, Any]]:
    """The lists of `destinations` a platform said last it will not serve ads on (no count of members: the alert
    rules ask every minute)."""
    return [r for r in readings(lake, destinations) if r["usable"] is False]


def platform_size(low: int | None, high: int | None) -> str:
    """A size a platform reports, as read: one number, or a range of two."""
    if low is None or high is None or low == high:
        one = low if low is not None else high
        return "" if one is None else f"{one:,}"
    return f"{low:,}–{high:,}"
