"""Streaming evaluation: when records or events arrive, re-decide the streaming audiences for the people they touch.

The same compiled audiences run over aud_* tables restricted to the affected people, so a streaming decision is
the batch decision for those people at that instant. Time passing changes membership too (someone leaves
"viewed pricing in the last 7 days" on day 8): `sweep` re-decides exactly the people with an event that crossed
one of the audiences' time boundaries since the last sweep. Changes are published to a `MembershipBus`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from accord.audiences.ast import Aggregate, Audience, Occurrence, Quantified, walk
from accord.audiences.compile import Compiler
from accord.audiences.evaluate import record_membership, register_audiences
from accord.audiences.method import evaluation_method
from accord.audiences.tables import PERSON_TABLES, person_scoped_sql
from accord.engines.duckdb import DuckDBEngine
from accord.lake.sql import literal
from accord.lake.store import Lake, now


@dataclass(frozen=True)
class Change:
    audience: str
    profile_id: str
    status: str  # realized or exited
    at: datetime


class MembershipBus:
    """In-process notification stream of membership changes (activation subscribes to it)."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[list[Change]], None]] = []

    def subscribe(self, callback: Callable[[list[Change]], None]) -> None:
        self._subscribers.append(callback)

    def publish(self, changes: list[Change]) -> None:
        if changes:
            for callback in self._subscribers:
                callback(changes)


class StreamEvaluator:
    def __init__(self, lake: Lake, audiences: list[Audience], bus: MembershipBus | None = None, retention_days: int = 30) -> None:
        by_name = {a.name: a for a in audiences}
        self.lake = lake
        self.definitions = audiences
        self.audiences = [a for a in audiences if evaluation_method(a, by_name)[0] == "streaming"]
        self.bus = bus or MembershipBus()
        self.retention_days = retention_days
        self.boundaries = sorted(_time_boundaries(self.audiences))
        register_audiences(lake, self.audiences, by_name)

    def on_batches(self, batch_ids: Iterable[int], as_of: datetime | None = None) -> list[Change]:
        """Re-decide the people whose records or events came in these batches."""
        return self.decide(_batch_people_sql(batch_ids), as_of)

    def sweep(self, since: datetime, as_of: datetime | None = None) -> list[Change]:
        """Re-decide the people with an event that crossed a time boundary between `since` and `as_of`."""
        as_of = (as_of or now()).astimezone(timezone.utc)
        return self.decide(self._swept_people_sql(since, as_of), as_of)

    def advance(self, batch_ids: list[int], since: datetime | None, as_of: datetime,
                people: Sequence[str] = ()) -> list[Change]:
        """`on_batches` and, unless `since` is None, `sweep` at one instant, in one evaluation (a serving cycle).

        `people` adds profiles to re-decide: those an identity run touched, including ids it merged away (no
        batch record leads to those any more, and their memberships must end).
        """
        parts = ([_batch_people_sql(batch_ids)] if batch_ids else []) + (
            [self._swept_people_sql(since, as_of)] if since is not None else [])
        if people:
            self.lake.con.execute(
                "CREATE OR REPLACE TEMP TABLE _stream_touched AS SELECT unnest(?::VARCHAR[]) AS person_id", [list(people)])
            parts.append("SELECT person_id FROM _stream_touched")
        return self.decide(" UNION ".join(parts), as_of) if parts else []

    def _swept_people_sql(self, since: datetime, as_of: datetime) -> str:
        # An event crossed boundary d if it lies between since - d and as_of - d (both ends kept: re-deciding a
        # person too many is harmless, one too few is not).
        ranges = " OR ".join(
            f'(e."timestamp" >= {_ts(since - d)} AND e."timestamp" <= {_ts(as_of - d)})' for d in self.boundaries
        ) or "FALSE"
        return f"""
            SELECT DISTINCT n.profile_id AS person_id FROM event_current e
            JOIN identity_nodes n ON n.kind = 'person' AND n.namespace = 'b2b_person' AND n.value = e.person_key
            WHERE {ranges}"""

    def decide(self, people_sql: str, as_of: datetime | None = None) -> list[Change]:
        """Evaluate the streaming audiences for the people `people_sql` selects, record and publish what changed."""
        if not self.audiences:
            return []
        as_of = (as_of or now()).astimezone(timezone.utc)
        con = self.lake.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE _stream_people AS {people_sql}")
        if not con.execute("SELECT count(*) FROM _stream_people").fetchone()[0]:
            return []
        compiled = Compiler(as_of).compile_all(self.audiences)
        read = compiled.tables_read()
        for name, sql in person_scoped_sql("_stream_people").items():
            if name in read:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        try:
            members = DuckDBEngine(self.lake).members(compiled)
        finally:
            for name in PERSON_TABLES:
                con.execute(f"DROP TABLE IF EXISTS temp.{name}")
        run_id = int(self.lake.scalar("SELECT nextval('audience_run_seq')"))
        con.execute("CREATE OR REPLACE TEMP TABLE _stream_scope AS SELECT person_id AS profile_id FROM _stream_people")
        con.execute("BEGIN")
        try:
            con.register("_members_arrow", members)
            record_membership(self.lake, run_id, as_of, [a.name for a in self.audiences], self.retention_days, "_stream_scope")
            con.unregister("_members_arrow")
            rows = con.execute("SELECT audience, profile_id, change FROM _diff WHERE change <> 'stayed'").fetchall()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        changes = [Change(a, p, "realized" if c == "entered" else "exited", as_of) for a, p, c in rows]
        self.bus.publish(changes)
        return changes


def _batch_people_sql(batch_ids: Iterable[int]) -> str:
    """People touched by these batches directly, and the people of every account whose record or deals changed."""
    ids = ", ".join(str(int(b)) for b in batch_ids) or "NULL"
    return f"""
        WITH records AS (
            SELECT source_key AS k FROM person WHERE batch_id IN ({ids})
            UNION SELECT person_key FROM event WHERE batch_id IN ({ids})
            UNION SELECT person_key FROM account_person WHERE batch_id IN ({ids})
            UNION SELECT person_key FROM opportunity_person WHERE batch_id IN ({ids})
            UNION SELECT person_key FROM campaign_member WHERE batch_id IN ({ids})
            UNION SELECT person_key FROM marketing_list_member WHERE batch_id IN ({ids})),
        accounts AS (
            SELECT n.profile_id AS account_id FROM identity_nodes n
            JOIN (SELECT source_key AS k FROM account WHERE batch_id IN ({ids})
                  UNION SELECT account_key FROM opportunity WHERE batch_id IN ({ids})) t ON t.k = n.value
            WHERE n.kind = 'account' AND n.namespace = 'b2b_account')
        SELECT n.profile_id AS person_id FROM identity_nodes n JOIN records r ON r.k = n.value
        WHERE n.kind = 'person' AND n.namespace = 'b2b_person'
        UNION SELECT person_id FROM person_account WHERE account_id IN (SELECT account_id FROM accounts)"""


def _time_boundaries(audiences: list[Audience]) -> set[timedelta]:
    """Every duration after which an event leaves or enters a window: its window lengths, `N days ago`, and now."""
    out = {timedelta(0)}
    for audience in audiences:
        for node in walk(audience.where):
            window = getattr(node, "window", None) if isinstance(node, (Quantified, Aggregate)) else None
            if window is not None and window.last_days is not None:
                out.add(timedelta(days=window.last_days))
            if isinstance(node, Occurrence):
                out.add(timedelta(days=node.days))
    return out


def _ts(moment: datetime) -> str:
    return f"CAST({literal(moment.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f+00:00'))} AS TIMESTAMPTZ)"
