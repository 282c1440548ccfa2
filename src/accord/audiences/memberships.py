"""Who is in which audience, and how that changed: the one owner of `audience_membership` and its history.

Batch runs and streaming record decisions here; profiles, activation, the engines and the services read them
through here, so the statuses (realized, existing, exited) and the history's run ids mean one thing everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from accord.audiences.changes import Change
from accord.lake.store import Lake

ACTIVE = "status IN ('realized', 'existing')"
"""A membership that holds now: entered at the last decision (realized) or before (existing)."""


def active_sql(audience: str = "?") -> str:
    """The profile ids in one audience now, as SQL (`audience` is a placeholder or a literal)."""
    return f"SELECT profile_id FROM audience_membership WHERE audience = {audience} AND {ACTIVE}"


ACTIVE_ROWS = f"SELECT audience, profile_id FROM audience_membership WHERE {ACTIVE}"
"""Every membership that holds now, as SQL (add `AND ...` to narrow it)."""


def active_members(lake: Lake, audience: str) -> set[str]:
    return {r[0] for r in lake.execute(active_sql(), [audience]).fetchall()}


def sizes(lake: Lake, names: list[str]) -> dict[str, int]:
    rows = lake.execute(
        f"SELECT audience, count(*) FROM audience_membership WHERE {ACTIVE} "
        "AND audience IN (SELECT unnest(?::VARCHAR[])) GROUP BY audience", [names]).fetchall()
    return {name: int(n) for name, n in rows}


def audiences_of(lake: Lake, profile_id: str) -> list[str]:
    """The audiences a profile is in now, by name."""
    return [r[0] for r in lake.execute(f"SELECT audience FROM audience_membership WHERE profile_id = ? AND {ACTIVE} "
                                       "ORDER BY audience", [profile_id]).fetchall()]


def memberships_of(lake: Lake, profile_id: str) -> list[dict[str, Any]]:
    """A profile's memberships, current and exited, with when it entered and left."""
    return lake.query("SELECT audience, status, entered_at, exited_at, last_evaluated_at FROM audience_membership "
                      "WHERE profile_id = ? ORDER BY status = 'exited', audience", [profile_id])


def last_recording(lake: Lake) -> int:
    """The run id of the newest recorded change (0 before any): what a reader of changes remembers."""
    return int(lake.scalar("SELECT coalesce(max(run_id), 0) FROM audience_membership_history"))


def recorded_upto(lake: Lake, run_id: int) -> int:
    """How many changes are recorded with a run id up to `run_id`: it grows when a run that began earlier
    commits after a later one, which a reader remembering only the newest run id would otherwise miss."""
    return int(lake.scalar("SELECT count(*) FROM audience_membership_history WHERE run_id <= ?", [run_id]))


def changed_since_sql(run_id: int) -> str:
    """The profiles with a membership change recorded after `run_id`, as SQL."""
    return f"SELECT DISTINCT profile_id FROM audience_membership_history WHERE run_id > {int(run_id)}"


def trend(lake: Lake, runs: int = 8) -> dict[str, list[dict[str, Any]]]:
    """Per audience, the entries and exits of its last evaluations (oldest first)."""
    rows = lake.query(
        "SELECT audience, run_id, count(*) FILTER (WHERE status = 'realized') AS entered, "
        "count(*) FILTER (WHERE status = 'exited') AS exited FROM audience_membership_history "
        "GROUP BY audience, run_id QUALIFY row_number() OVER (PARTITION BY audience ORDER BY run_id DESC) <= ? "
        "ORDER BY audience, run_id", [runs])
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["audience"], []).append(row)
    return out


def last_changes(lake: Lake) -> list[dict[str, Any]]:
    """Per audience, its size now and how many entered and exited in the last evaluation that changed it."""
    return lake.query(
        "WITH last AS (SELECT audience, max(run_id) AS run_id FROM audience_membership_history GROUP BY 1) "
        "SELECT a.name, a.size, l.run_id, count(*) FILTER (WHERE h.status = 'realized') AS entered, "
        "count(*) FILTER (WHERE h.status = 'exited') AS exited FROM audiences a JOIN last l ON l.audience = a.name "
        "JOIN audience_membership_history h ON h.audience = a.name AND h.run_id = l.run_id "
        "GROUP BY a.name, a.size, l.run_id")


_turn = threading.Lock()
"""Held while a run id is taken, and by streaming runs until their decisions are recorded."""


def batch_run(lake: Lake) -> int:
    """A batch evaluation's run id. Taken before the run reads what changed: every streaming run with a lower id
    has recorded its decisions by then, and any later one has a higher id, which the next run reads."""
    with _turn:
        return int(lake.scalar("SELECT nextval('audience_run_seq')"))


@contextmanager
def streaming_run(lake: Lake) -> Iterator[int]:
    """A streaming run's id, held until the block has recorded its decisions."""
    with _turn:
        yield int(lake.scalar("SELECT nextval('audience_run_seq')"))


def record_decisions(lake: Lake, run_id: int, at: datetime, names: list[str], retention_days: int,
                     scope: str | None = None) -> dict[str, tuple[int, int]]:
    """Compare a run's decisions (`_members_arrow`: audience, profile_id) with the active members; record the
    evaluated audiences' changes and log them. Returns how many entered and left, per audience.

    With `scope` (a table of profile_id), only those profiles were decided, and only they can change.
    """
    within = f"AND profile_id IN (SELECT profile_id FROM {scope})" if scope else ""
    lake.execute("CREATE OR REPLACE TEMP TABLE _evaluated AS SELECT unnest(?::VARCHAR[]) AS audience", [names])
    # Only the memberships that change are kept: on `large`, writing the million that stay out cost a third of
    # the diff. The engines decide each (audience, profile) once, so the decisions need no DISTINCT either.
    lake.execute(
        f"""CREATE OR REPLACE TEMP TABLE _diff AS
        WITH a AS (SELECT audience, profile_id FROM audience_membership
                   WHERE {ACTIVE} AND audience IN (SELECT audience FROM _evaluated) {within})
        SELECT coalesce(n.audience, a.audience) AS audience, coalesce(n.profile_id, a.profile_id) AS profile_id,
               CASE WHEN a.profile_id IS NULL THEN 'entered' ELSE 'left' END AS change
        FROM _members_arrow n FULL OUTER JOIN a ON a.audience = n.audience AND a.profile_id = n.profile_id
        WHERE a.profile_id IS NULL OR n.profile_id IS NULL"""
    )
    _rewrite_changed(lake, at, at - timedelta(days=retention_days))
    if not scope:  # a full evaluation decided every stay too
        lake.execute(f"UPDATE audience_membership SET last_evaluated_at = ? WHERE {ACTIVE} "
                     "AND audience IN (SELECT audience FROM _evaluated)", [at])
    lake.execute(
        """INSERT INTO audience_membership_history
        SELECT ?, audience, profile_id, CASE change WHEN 'entered' THEN 'realized' ELSE 'exited' END, ?
        FROM _diff""",
        [run_id, at],
    )
    counts: dict[str, list[int]] = {n: [0, 0] for n in names}
    slot = {"entered": 0, "left": 1}
    for audience, change, n in lake.execute(
            "SELECT audience, change, count(*) FROM _diff GROUP BY ALL").fetchall():
        counts[audience][slot[change]] = int(n)
    return {k: (v[0], v[1]) for k, v in counts.items()}


def _rewrite_changed(lake: Lake, at: datetime, keep: datetime) -> None:
    """Rewrite only the rows that enter or leave; every stay becomes `existing` and exits older than `keep` are
    purged (a row that stays keeps its `last_evaluated_at`)."""
    lake.execute(
        """CREATE OR REPLACE TEMP TABLE _state AS
        SELECT d.audience, d.profile_id, CASE d.change WHEN 'entered' THEN 'realized' ELSE 'exited' END AS status,
               CASE WHEN d.change = 'entered' THEN $at ELSE m.entered_at END AS entered_at,
               CASE WHEN d.change = 'left' THEN $at END AS exited_at, $at AS last_evaluated_at
        FROM _diff d LEFT JOIN audience_membership m ON m.audience = d.audience AND m.profile_id = d.profile_id""",
        {"at": at})
    evaluated = "audience IN (SELECT audience FROM _evaluated)"
    lake.execute(f"UPDATE audience_membership SET status = 'existing' WHERE status = 'realized' AND {evaluated}")
    lake.execute(f"DELETE FROM audience_membership WHERE status = 'exited' AND exited_at < ? AND {evaluated}", [keep])
    lake.execute("DELETE FROM audience_membership m USING _state s "
                 "WHERE m.audience = s.audience AND m.profile_id = s.profile_id")
    lake.execute("INSERT INTO audience_membership SELECT * FROM _state")


def record_changes(lake: Lake, run_id: int, changes: list[Change]) -> None:
    """Record membership transitions decided one by one (streaming), in their order; stayed members are untouched."""
    if not changes:
        return
    lake.register("_changes_arrow", pa.table({
        "seq": list(range(len(changes))), "audience": [c.audience for c in changes],
        "profile_id": [c.profile_id for c in changes], "status": [c.status for c in changes], "at": [c.at for c in changes],
    }))
    try:
        with lake.transaction():
            lake.execute(
                """CREATE OR REPLACE TEMP TABLE _last AS
                SELECT audience, profile_id, arg_max(status, seq) AS status, arg_max("at", seq) AS "at",
                       arg_max("at", seq) FILTER (WHERE status = 'realized') AS entered
                FROM _changes_arrow GROUP BY audience, profile_id""")
            lake.execute(
                """CREATE OR REPLACE TEMP TABLE _rows AS
                SELECT l.audience, l.profile_id, l.status,
                       CASE WHEN l.status = 'realized' THEN l.entered ELSE coalesce(l.entered, m.entered_at, l."at") END,
                       CASE WHEN l.status = 'exited' THEN l."at" END, l."at"
                FROM _last l LEFT JOIN audience_membership m USING (audience, profile_id)""")
            lake.execute("DELETE FROM audience_membership m USING _last l WHERE m.audience = l.audience AND m.profile_id = l.profile_id")
            lake.execute("INSERT INTO audience_membership SELECT * FROM _rows")
            lake.execute("INSERT INTO audience_membership_history SELECT ?, audience, profile_id, status, \"at\" "
                         "FROM _changes_arrow ORDER BY seq", [run_id])
    finally:
        lake.unregister("_changes_arrow")
