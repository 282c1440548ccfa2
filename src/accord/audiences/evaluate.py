"""Evaluate all audiences of a workspace together and keep their membership (realized / existing / exited)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

import pyarrow as pa

from accord.audiences.ast import Audience
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


def prepare_tables(lake: Lake) -> None:
    """(Re)build the aud_* tables compiled audiences read, from the current profiles."""
    for name, sql in table_sql().items():
        lake.con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
    lake.con.execute(f"CREATE OR REPLACE TABLE aud_prepared AS SELECT {FRESHNESS} AS state")


FRESHNESS = "(SELECT max(run_id) FROM identity_runs) || '/' || (SELECT max(batch_id) FROM batches)"


def tables_are_fresh(lake: Lake) -> bool:
    """Do the aud_* tables reflect the latest identity run and batch (so they need not be rebuilt)?"""
    try:
        prepared = lake.scalar("SELECT state FROM aud_prepared")
    except Exception:  # noqa: BLE001 - the table does not exist before the first evaluation
        return False
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
    compiled = Compiler((as_of or now()).astimezone(timezone.utc)).compile_all(chosen)
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
    compiled = Compiler(as_of).compile_all(audiences)
    if refresh or not tables_are_fresh(lake):
        prepare_tables(lake)
    engine = engine or DuckDBEngine(lake)
    members = engine.members(compiled)
    run_id = int(lake.scalar("SELECT nextval('audience_run_seq')"))
    report = EvaluationReport(run_id, as_of, engine=engine.name)
    by_name = {a.name: a for a in audiences}
    con = lake.con
    con.execute("BEGIN")
    try:
        con.register("_members_arrow", members)
        counts = _record_membership(lake, run_id, as_of, [a.name for a in audiences], retention_days)
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
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return report


def _record_membership(
    lake: Lake, run_id: int, at: datetime, names: list[str], retention_days: int
) -> dict[str, tuple[int, int, int]]:
    """Compare this evaluation with the active members; write transitions and history; purge old exits."""
    con = lake.con
    con.execute("CREATE OR REPLACE TEMP TABLE _new AS SELECT DISTINCT audience, profile_id FROM _members_arrow")
    con.execute("CREATE OR REPLACE TEMP TABLE _evaluated AS SELECT unnest(?::VARCHAR[]) AS audience", [names])
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _active AS SELECT audience, profile_id FROM audience_membership
        WHERE status IN ('realized', 'existing') AND audience IN (SELECT audience FROM _evaluated)"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _entered AS SELECT * FROM _new EXCEPT SELECT * FROM _active")
    con.execute("CREATE OR REPLACE TEMP TABLE _left AS SELECT * FROM _active EXCEPT SELECT * FROM _new")
    con.execute("CREATE OR REPLACE TEMP TABLE _stayed AS SELECT * FROM _active INTERSECT SELECT * FROM _new")
    match = "audience_membership.audience = t.audience AND audience_membership.profile_id = t.profile_id"
    con.execute(
        f"UPDATE audience_membership SET status = 'exited', exited_at = ?, last_evaluated_at = ? FROM _left t WHERE {match}",
        [at, at],
    )
    con.execute(
        f"UPDATE audience_membership SET status = 'existing', last_evaluated_at = ? FROM _stayed t WHERE {match}", [at]
    )
    con.execute(
        f"""UPDATE audience_membership SET status = 'realized', entered_at = ?, exited_at = NULL, last_evaluated_at = ?
        FROM _entered t WHERE {match}""",
        [at, at],
    )
    con.execute(
        """INSERT INTO audience_membership SELECT e.audience, e.profile_id, 'realized', ?, NULL, ? FROM _entered e
        WHERE NOT EXISTS (SELECT 1 FROM audience_membership m WHERE m.audience = e.audience AND m.profile_id = e.profile_id)""",
        [at, at],
    )
    con.execute("INSERT INTO audience_membership_history SELECT ?, audience, profile_id, 'realized', ? FROM _entered", [run_id, at])
    con.execute("INSERT INTO audience_membership_history SELECT ?, audience, profile_id, 'exited', ? FROM _left", [run_id, at])
    con.execute(
        "DELETE FROM audience_membership WHERE status = 'exited' AND exited_at < ?", [at - timedelta(days=retention_days)]
    )
    counts: dict[str, list[int]] = {n: [0, 0, 0] for n in names}
    for i, table in enumerate(("_entered", "_stayed", "_left")):
        for audience, n in con.execute(f"SELECT audience, count(*) FROM {table} GROUP BY 1").fetchall():
            counts[audience][i] = int(n)
    return {k: (v[0], v[1], v[2]) for k, v in counts.items()}
