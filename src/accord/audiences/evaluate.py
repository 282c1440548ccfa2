"""Evaluate all audiences of a workspace together and keep their membership (realized / existing / exited)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from accord.audiences.ast import Audience
from accord.audiences.changes import Change
from accord.audiences.compile import CompiledAudiences, Compiler
from accord.audiences.method import evaluation_method
from accord.audiences.prepared import (clear_pending, everyone_pending, features_key, forget_features,
                                       kept_features, prepare_tables, refresh_tables, remember_features)
from accord.audiences.touched import swept_people_sql, time_boundaries
from accord.audiences.text import print_audience
from accord.lake.store import Lake, now


class Engine(Protocol):
    name: str
    decides_some: bool

    def members(self, compiled: CompiledAudiences) -> pa.Table: ...


@dataclass
class AudienceResult:
    name: str
    of: str
    size: int
    entered: int
    stayed: int
    exited: int
    method: str
    reason: str


@dataclass
class EvaluationReport:
    run_id: int
    as_of: datetime
    results: list[AudienceResult] = field(default_factory=list)
    seconds: float = 0.0
    engine: str = "duckdb"
    failed: dict[str, str] = field(default_factory=dict)
    """Audiences that could not be evaluated, and why: their memberships stay as they were."""
    mode: str = "full"
    """`incremental` when only the profiles whose inputs changed were re-decided (`people`, `accounts`)."""
    people: int = 0
    accounts: int = 0


def needed(audiences: list[Audience], name: str) -> list[Audience]:
    """The audience called `name` and every audience it references, directly or not."""
    from accord.audiences.ast import InAudience, walk

    by_name = {a.name: a for a in audiences}
    if name not in by_name:
        raise LookupError(f"no audience named {name!r}; audiences: {', '.join(sorted(by_name))}")
    out: dict[str, Audience] = {}
    todo = [name]
    while todo:
        current = by_name[todo.pop()]
        if current.name in out:
            continue
        out[current.name] = current
        todo.extend(n.name for n in walk(current.where) if isinstance(n, InAudience) and n.name in by_name)
    return list(out.values())


def preview(lake: Lake, audiences: list[Audience], name: str, as_of: datetime | None = None) -> list[str]:
    """Members of one audience now, without recording anything: for `size`, `sample` and the UI."""
    from accord.engines.duckdb import DuckDBEngine

    chosen = needed(audiences, name)
    refresh_tables(lake)
    compiled = Compiler((as_of or now()).astimezone(timezone.utc), lake.schema).compile_all(chosen)
    members = DuckDBEngine(lake).members(compiled)
    mask = [a == name for a in members.column("audience").to_pylist()]
    return [p for p, keep in zip(members.column("profile_id").to_pylist(), mask) if keep]


def evaluate(
    lake: Lake,
    audiences: list[Audience],
    as_of: datetime | None = None,
    engine: Engine | None = None,
    retention_days: int = 30,
    refresh: bool = False,
    full: bool = False,
) -> EvaluationReport:
    """Evaluate `audiences` at `as_of` (default now) and record membership transitions.

    Incremental unless `full` (or nothing allows it): only the profiles whose inputs changed since the previous
    run, or whose events crossed a time window since, are re-decided. `refresh` rebuilds the aud_* tables whole.
    """
    from accord.engines.duckdb import DuckDBEngine

    started = time.perf_counter()
    as_of = (as_of or now()).astimezone(timezone.utc)
    if refresh:
        prepare_tables(lake)
    else:
        refresh_tables(lake)
    engine = engine or DuckDBEngine(lake)
    scope = None if full or not engine.decides_some else _incremental_scope(lake, audiences, as_of)
    keep, key = engine.decides_some, features_key(lake, audiences)
    compiler = Compiler(as_of, lake.schema, scope, keep_features=keep, all_features=not kept_features(lake, key))
    if keep:
        forget_features(lake)  # until this run is recorded, the kept features are not known to be whole
    members, failed, shared = _members_each_alone_if_need_be(engine, audiences, compiler)
    run_id = int(lake.scalar("SELECT nextval('audience_run_seq')"))
    report = EvaluationReport(run_id, as_of, engine=engine.name, failed=failed,
                              mode="incremental" if scope else "full")
    if scope:
        report.people, report.accounts = (int(lake.scalar(f"SELECT count(*) FROM {scope[k]}"))
                                          for k in ("person", "account"))
    by_name = {a.name: a for a in audiences}
    audiences = [a for a in audiences if a.name not in failed]
    with lake.transaction():
        lake.register("_members_arrow", members)
        entered = record_membership(lake, run_id, as_of, [a.name for a in audiences], retention_days,
                                    DECIDED if scope else None)
        lake.unregister("_members_arrow")
        sizes = _sizes(lake, [a.name for a in audiences])
        for audience in audiences:
            method, reason = evaluation_method(audience, by_name)
            came, left = entered.get(audience.name, (0, 0))
            size = sizes.get(audience.name, 0)
            report.results.append(AudienceResult(audience.name, audience.of, size, came, size - came, left,
                                                 method, reason))
            lake.execute("DELETE FROM audiences WHERE name = ?", [audience.name])
            lake.execute(
                "INSERT INTO audiences VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [audience.name, audience.of, print_audience(audience), method, reason, run_id, as_of, size],
            )
        clear_pending(lake)
        if keep and shared:
            remember_features(lake, key)
        report.seconds = time.perf_counter() - started
        lake.execute("INSERT INTO audience_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     [run_id, as_of, now(), report.seconds, len(audiences), report.mode,
                     report.people if scope else None, report.accounts if scope else None])
    return report


DECIDED = "_decided_profiles"
"""The table of profile ids an incremental run decides (people and accounts)."""


def _incremental_scope(lake: Lake, audiences: list[Audience], as_of: datetime) -> dict[str, str] | None:
    """The tables of the people and accounts to re-decide, or None when everyone must be decided (no previous
    run of exactly these definitions, time going backwards, the aud_* tables rebuilt whole)."""
    last = lake.execute("SELECT run_id, as_of FROM audience_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    if last is None or as_of < last[1] or everyone_pending(lake):
        return None
    run_id, since = int(last[0]), last[1]
    stored = {name: (definition, last_run) for name, definition, last_run in
              lake.execute("SELECT name, definition, last_run_id FROM audiences").fetchall()}
    if any(stored.get(a.name) != (print_audience(a), run_id) for a in audiences):
        return None
    swept = swept_people_sql(time_boundaries(audiences), since, as_of)
    # Memberships recorded since (streaming decisions) change what `in audience` sees.
    changed_members = f"SELECT DISTINCT profile_id FROM audience_membership_history WHERE run_id > {run_id}"
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE _decided_people AS
        SELECT profile_id FROM aud_pending WHERE kind = 'person'
        UNION SELECT person_id FROM ({swept}) UNION {changed_members}""")
    lake.execute(f"""CREATE OR REPLACE TEMP TABLE _decided_accounts AS
        SELECT profile_id FROM aud_pending WHERE kind = 'account'
        UNION SELECT account_id FROM aud_person_account WHERE person_id IN (SELECT profile_id FROM _decided_people)
        UNION {changed_members}""")
    lake.execute(f"CREATE OR REPLACE TEMP TABLE {DECIDED} AS "
                 "SELECT profile_id FROM _decided_people UNION SELECT profile_id FROM _decided_accounts")
    return {"person": "_decided_people", "account": "_decided_accounts"}


def _sizes(lake: Lake, names: list[str]) -> dict[str, int]:
    rows = lake.execute(
        "SELECT audience, count(*) FROM audience_membership WHERE status IN ('realized', 'existing') "
        "AND audience IN (SELECT unnest(?::VARCHAR[])) GROUP BY audience", [names]).fetchall()
    return {name: int(n) for name, n in rows}


def _members_each_alone_if_need_be(engine: Engine, audiences: list[Audience],
                                   compiler: Compiler) -> tuple[pa.Table, dict[str, str], bool]:
    """Members of all audiences in shared passes; if that fails, each audience (with those it references) alone,
    so one that cannot be evaluated fails by itself and is named, never the run. The flag: the shared passes
    worked (so the features they kept are whole)."""
    try:
        return engine.members(compiler.fresh().compile_all(audiences)), {}, True
    except Exception as err:  # noqa: BLE001 - found out below, audience by audience
        shared = err
    tables, failed = [], {}
    for audience in audiences:
        try:
            found = engine.members(compiler.fresh(keep_features=False).compile_all(needed(audiences, audience.name)))
        except Exception as err:  # noqa: BLE001 - recorded in the report, shown by the CLI, API and /health
            failed[audience.name] = f"{type(err).__name__}: {err}"
            continue
        tables.append(found.filter(pc.equal(found["audience"], audience.name)))
    if not tables:
        raise shared  # nothing works alone either: the store, not an audience, is at fault
    schema = pa.schema([("audience", pa.string()), ("profile_id", pa.string())])
    return pa.concat_tables([t.cast(schema) for t in tables]), failed, False


def register_audiences(lake: Lake, audiences: list[Audience], by_name: dict[str, Audience]) -> None:
    """Record the definition and method of audiences the store has not seen (streamed before any batch run), so
    every audience with members is known by kind; a batch run replaces the row and adds the size."""
    known = {r[0] for r in lake.execute("SELECT name FROM audiences").fetchall()}
    for audience in audiences:
        if audience.name not in known:
            method, reason = evaluation_method(audience, by_name)
            lake.execute("INSERT INTO audiences VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL)",
                         [audience.name, audience.of, print_audience(audience), method, reason])


def record_membership(
    lake: Lake, run_id: int, at: datetime, names: list[str], retention_days: int, scope: str | None = None
) -> dict[str, tuple[int, int]]:
    """Compare this evaluation with the active members; record the evaluated audiences' changes, log transitions.
    Returns how many entered and left, per audience.

    With `scope` (a table of profile_id), only those profiles were evaluated, and only they can change.
    """
    within = f"AND profile_id IN (SELECT profile_id FROM {scope})" if scope else ""
    lake.execute("CREATE OR REPLACE TEMP TABLE _evaluated AS SELECT unnest(?::VARCHAR[]) AS audience", [names])
    lake.execute(
        f"""CREATE OR REPLACE TEMP TABLE _diff AS
        WITH n AS (SELECT DISTINCT audience, profile_id FROM _members_arrow),
        a AS (SELECT audience, profile_id FROM audience_membership
              WHERE status IN ('realized', 'existing') AND audience IN (SELECT audience FROM _evaluated) {within})
        SELECT coalesce(n.audience, a.audience) AS audience, coalesce(n.profile_id, a.profile_id) AS profile_id,
               CASE WHEN a.profile_id IS NULL THEN 'entered' WHEN n.profile_id IS NULL THEN 'left' ELSE 'stayed' END AS change
        FROM n FULL OUTER JOIN a ON a.audience = n.audience AND a.profile_id = n.profile_id"""
    )
    _rewrite_changed(lake, at, at - timedelta(days=retention_days))
    if not scope:  # a full evaluation decided every stay too
        lake.execute("UPDATE audience_membership SET last_evaluated_at = ? WHERE status IN ('realized', 'existing') "
                     "AND audience IN (SELECT audience FROM _evaluated)", [at])
    lake.execute(
        """INSERT INTO audience_membership_history
        SELECT ?, audience, profile_id, CASE change WHEN 'entered' THEN 'realized' ELSE 'exited' END, ?
        FROM _diff WHERE change <> 'stayed'""",
        [run_id, at],
    )
    counts: dict[str, list[int]] = {n: [0, 0] for n in names}
    slot = {"entered": 0, "left": 1}
    for audience, change, n in lake.execute(
            "SELECT audience, change, count(*) FROM _diff WHERE change <> 'stayed' GROUP BY ALL").fetchall():
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
        FROM _diff d LEFT JOIN audience_membership m ON m.audience = d.audience AND m.profile_id = d.profile_id
        WHERE d.change <> 'stayed'""", {"at": at})
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
