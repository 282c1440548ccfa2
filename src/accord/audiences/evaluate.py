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
from accord.audiences.tables import table_sql
from accord.audiences.text import print_audience
from accord.lake.store import Lake, now


class Engine(Protocol):
    name: str

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


class NoProfilesYet(ValueError):
    """Audiences are evaluated over profiles, and no identity run has built them in this sandbox yet."""


def prepare_tables(lake: Lake) -> None:
    """(Re)build the aud_* tables compiled audiences read, from the current profiles."""
    built = {r[0] for r in lake.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if not {"person_profile", "account_profile", "person_account"} <= built:
        raise NoProfilesYet("no profiles yet in this sandbox: load data and run `accord identity run` "
                            "(or `accord run`) before evaluating audiences")
    for name, sql in table_sql(lake.schema).items():
        lake.con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
    lake.con.execute(f"CREATE OR REPLACE TABLE aud_prepared AS SELECT {FRESHNESS} AS state")


FRESHNESS = ("(SELECT max(run_id) FROM identity_runs) || '/' || (SELECT max(batch_id) FROM batches) || '/' || "
             "coalesce((SELECT string_agg(entity || '.' || name || ':' || type, ',' ORDER BY entity, name) "
             "FROM custom_fields), '')")


def tables_are_fresh(lake: Lake) -> bool:
    """Do the aud_* tables reflect the latest identity run and batch (so they need not be rebuilt)?"""
    if not lake.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'aud_prepared'"):
        return False
    prepared = lake.scalar("SELECT state FROM aud_prepared")
    return prepared is not None and prepared == lake.scalar(f"SELECT {FRESHNESS}")


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
    if not tables_are_fresh(lake):
        prepare_tables(lake)
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
) -> EvaluationReport:
    """Evaluate `audiences` at `as_of` (default now) and record membership transitions.

    The aud_* tables are rebuilt when identities or batches changed since they were built (or with `refresh`).
    """
    from accord.engines.duckdb import DuckDBEngine

    started = time.perf_counter()
    as_of = (as_of or now()).astimezone(timezone.utc)
    if refresh or not tables_are_fresh(lake):
        prepare_tables(lake)
    engine = engine or DuckDBEngine(lake)
    members, failed = _members_each_alone_if_need_be(engine, audiences, Compiler(as_of, lake.schema))
    run_id = int(lake.scalar("SELECT nextval('audience_run_seq')"))
    report = EvaluationReport(run_id, as_of, engine=engine.name, failed=failed)
    by_name = {a.name: a for a in audiences}
    audiences = [a for a in audiences if a.name not in failed]
    con = lake.con
    with lake.transaction():
        con.register("_members_arrow", members)
        counts = record_membership(lake, run_id, as_of, [a.name for a in audiences], retention_days)
        con.unregister("_members_arrow")
        for audience in audiences:
            method, reason = evaluation_method(audience, by_name)
            entered, stayed, exited = counts.get(audience.name, (0, 0, 0))
            size = entered + stayed
            report.results.append(AudienceResult(audience.name, audience.of, size, entered, stayed, exited, method, reason))
            con.execute("DELETE FROM audiences WHERE name = ?", [audience.name])
            con.execute(
                "INSERT INTO audiences VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [audience.name, audience.of, print_audience(audience), method, reason, run_id, as_of, size],
            )
        report.seconds = time.perf_counter() - started
        con.execute("INSERT INTO audience_runs VALUES (?, ?, ?, ?, ?)", [run_id, as_of, now(), report.seconds, len(audiences)])
    return report


def _members_each_alone_if_need_be(engine: Engine, audiences: list[Audience],
                                   compiler: Compiler) -> tuple[pa.Table, dict[str, str]]:
    """Members of all audiences in shared passes; if that fails, each audience (with those it references) alone,
    so one that cannot be evaluated fails by itself and is named, never the run."""
    try:
        return engine.members(compiler.fresh().compile_all(audiences)), {}
    except Exception as err:  # noqa: BLE001 - found out below, audience by audience
        shared = err
    tables, failed = [], {}
    for audience in audiences:
        try:
            found = engine.members(compiler.fresh().compile_all(needed(audiences, audience.name)))
        except Exception as err:  # noqa: BLE001 - recorded in the report, shown by the CLI, API and /health
            failed[audience.name] = f"{type(err).__name__}: {err}"
            continue
        tables.append(found.filter(pc.equal(found["audience"], audience.name)))
    if not tables:
        raise shared  # nothing works alone either: the store, not an audience, is at fault
    schema = pa.schema([("audience", pa.string()), ("profile_id", pa.string())])
    return pa.concat_tables([t.cast(schema) for t in tables]), failed


def register_audiences(lake: Lake, audiences: list[Audience], by_name: dict[str, Audience]) -> None:
    """Record the definition and method of audiences the store has not seen (streamed before any batch run), so
    every audience with members is known by kind; a batch run replaces the row and adds the size."""
    known = {r[0] for r in lake.con.execute("SELECT name FROM audiences").fetchall()}
    for audience in audiences:
        if audience.name not in known:
            method, reason = evaluation_method(audience, by_name)
            lake.con.execute("INSERT INTO audiences VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL)",
                             [audience.name, audience.of, print_audience(audience), method, reason])


def record_membership(
    lake: Lake, run_id: int, at: datetime, names: list[str], retention_days: int, scope: str | None = None
) -> dict[str, tuple[int, int, int]]:
    """Compare this evaluation with the active members; rewrite the evaluated audiences' state, log transitions.

    With `scope` (a table of profile_id), only those profiles were evaluated, and only they can change.
    """
    con = lake.con
    within = f"AND profile_id IN (SELECT profile_id FROM {scope})" if scope else ""
    con.execute("CREATE OR REPLACE TEMP TABLE _evaluated AS SELECT unnest(?::VARCHAR[]) AS audience", [names])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _diff AS
        WITH n AS (SELECT DISTINCT audience, profile_id FROM _members_arrow),
        a AS (SELECT audience, profile_id FROM audience_membership
              WHERE status IN ('realized', 'existing') AND audience IN (SELECT audience FROM _evaluated) {within})
        SELECT coalesce(n.audience, a.audience) AS audience, coalesce(n.profile_id, a.profile_id) AS profile_id,
               CASE WHEN a.profile_id IS NULL THEN 'entered' WHEN n.profile_id IS NULL THEN 'left' ELSE 'stayed' END AS change
        FROM n FULL OUTER JOIN a ON a.audience = n.audience AND a.profile_id = n.profile_id"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _state AS
        SELECT d.audience, d.profile_id,
               CASE d.change WHEN 'entered' THEN 'realized' WHEN 'stayed' THEN 'existing' ELSE 'exited' END AS status,
               CASE WHEN d.change = 'entered' THEN $at ELSE m.entered_at END AS entered_at,
               CASE WHEN d.change = 'left' THEN $at END AS exited_at,
               $at AS last_evaluated_at
        FROM _diff d LEFT JOIN audience_membership m ON m.audience = d.audience AND m.profile_id = d.profile_id
        UNION ALL
        SELECT m.* FROM audience_membership m
        WHERE m.status = 'exited' AND m.audience IN (SELECT audience FROM _evaluated) AND m.exited_at >= $keep {within}
          AND NOT EXISTS (SELECT 1 FROM _diff d WHERE d.audience = m.audience AND d.profile_id = m.profile_id)""",
        {"at": at, "keep": at - timedelta(days=retention_days)},
    )
    con.execute(f"DELETE FROM audience_membership WHERE audience IN (SELECT audience FROM _evaluated) {within}")
    con.execute("INSERT INTO audience_membership SELECT * FROM _state")
    con.execute(
        """INSERT INTO audience_membership_history
        SELECT ?, audience, profile_id, CASE change WHEN 'entered' THEN 'realized' ELSE 'exited' END, ?
        FROM _diff WHERE change <> 'stayed'""",
        [run_id, at],
    )
    counts: dict[str, list[int]] = {n: [0, 0, 0] for n in names}
    slot = {"entered": 0, "stayed": 1, "left": 2}
    for audience, change, n in con.execute("SELECT audience, change, count(*) FROM _diff GROUP BY ALL").fetchall():
        counts[audience][slot[change]] = int(n)
    return {k: (v[0], v[1], v[2]) for k, v in counts.items()}


def record_changes(lake: Lake, run_id: int, changes: list[Change]) -> None:
    """Record membership transitions decided one by one (streaming), in their order; stayed members are untouched."""
    if not changes:
        return
    con = lake.con
    con.register("_changes_arrow", pa.table({
        "seq": list(range(len(changes))), "audience": [c.audience for c in changes],
        "profile_id": [c.profile_id for c in changes], "status": [c.status for c in changes], "at": [c.at for c in changes],
    }))
    try:
        with lake.transaction():
            con.execute(
                """CREATE OR REPLACE TEMP TABLE _last AS
                SELECT audience, profile_id, arg_max(status, seq) AS status, arg_max("at", seq) AS "at",
                       arg_max("at", seq) FILTER (WHERE status = 'realized') AS entered
                FROM _changes_arrow GROUP BY audience, profile_id""")
            con.execute(
                """CREATE OR REPLACE TEMP TABLE _rows AS
                SELECT l.audience, l.profile_id, l.status,
                       CASE WHEN l.status = 'realized' THEN l.entered ELSE coalesce(l.entered, m.entered_at, l."at") END,
                       CASE WHEN l.status = 'exited' THEN l."at" END, l."at"
                FROM _last l LEFT JOIN audience_membership m USING (audience, profile_id)""")
            con.execute("DELETE FROM audience_membership m USING _last l WHERE m.audience = l.audience AND m.profile_id = l.profile_id")
            con.execute("INSERT INTO audience_membership SELECT * FROM _rows")
            con.execute("INSERT INTO audience_membership_history SELECT ?, audience, profile_id, status, \"at\" "
                        "FROM _changes_arrow ORDER BY seq", [run_id])
    finally:
        con.unregister("_changes_arrow")
