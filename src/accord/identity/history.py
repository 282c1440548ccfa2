"""What identity runs did, as the CLI, the API and the live path read it: the newest run, the merges made, the
links refused, the identities people split off."""

from __future__ import annotations

from typing import Any

from accord.lake.store import Lake


def last_run(lake: Lake) -> int | None:
    """The newest identity run's id (None before any)."""
    found = lake.scalar("SELECT max(run_id) FROM identity_runs")
    return None if found is None else int(found)


def merges(lake: Lake, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Profiles merged into others, newest first."""
    return lake.query("SELECT * FROM identity_merges ORDER BY run_id DESC, merged_at DESC LIMIT ? OFFSET ?",
                      [limit, offset])


def refused(lake: Lake, limit: int = 50) -> list[dict[str, Any]]:
    """The links the newest run's guardrails refused."""
    return lake.query("SELECT * FROM identity_rejections WHERE run_id = (SELECT max(run_id) FROM identity_rejections) "
                      "LIMIT ?", [limit])


def splits(lake: Lake, limit: int = 50) -> list[dict[str, Any]]:
    """Identities people moved out of profiles, newest first."""
    return lake.query("SELECT * FROM identity_unlinks ORDER BY created_at DESC LIMIT ?", [limit])
