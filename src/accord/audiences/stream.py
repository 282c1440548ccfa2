"""Streaming evaluation in SQL: when records or events arrive, re-decide the streaming audiences for the people
they touch.

The same compiled audiences run over aud_* tables restricted to the affected people, so a streaming decision is
the batch decision for those people at that instant. Time passing changes membership too (someone leaves
"viewed pricing in the last 7 days" on day 8): `sweep` re-decides exactly the people with an event that crossed
one of the audiences' time boundaries since the last sweep. The answers go through `LiveProfiles.reconcile`
(`live.py`), which holds the membership and knows what arrived after the lake's snapshot; the changes are
recorded one by one and published on the `MembershipBus`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from accord.audiences.ast import Audience
from accord.audiences.changes import Change, MembershipBus
from accord.audiences.compile import Compiler
from accord.audiences.evaluate import register_audiences
from accord.audiences.live import LiveProfiles
from accord.audiences.memberships import record_changes, streaming_run
from accord.audiences.method import evaluation_method
from accord.audiences.tables import person_scoped_sql, person_tables
from accord.audiences.touched import (
    batch_accounts_sql,
    batch_people_sql,
    linked_people_sql,
    swept_people_sql,
    time_boundaries,
)
from accord.engines.registry import lake_engine
from accord.lake.store import Lake, now
from accord.model.times import micros

__all__ = ["Change", "MembershipBus", "StreamEvaluator", "streaming"]


class StreamEvaluator:
    """Decides the streaming audiences in SQL for the people concerned, through `live`, which holds the current
    membership (and decides collector events between cycles when it is fed the log) and publishes on its bus."""

    def __init__(self, lake: Lake, audiences: list[Audience], bus: MembershipBus | None = None,
                 live: LiveProfiles | None = None) -> None:
        self.lake = lake
        self.definitions = audiences
        self.audiences = streaming(audiences)
        self.boundaries = time_boundaries(self.audiences)
        register_audiences(lake, self.audiences, {a.name: a for a in audiences})
        self.live = live or LiveProfiles(bus or MembershipBus())
        self.bus = self.live.bus
        self.live.attach(lake, self.audiences)

    def on_batches(self, batch_ids: Iterable[int], as_of: datetime | None = None) -> list[Change]:
        """Re-decide the people whose records or events came in these batches."""
        return self.decide(self._batch_people_sql(batch_ids), as_of)

    def sweep(self, since: datetime, as_of: datetime | None = None) -> list[Change]:
        """Re-decide the people with an event that crossed a time boundary between `since` and `as_of`."""
        as_of = (as_of or now()).astimezone(timezone.utc)
        return self.decide(swept_people_sql(self.boundaries, since, as_of), as_of)

    def advance(self, batch_ids: list[int], since: datetime | None, as_of: datetime,
                people: Sequence[str] = (), upto: int | None = None) -> list[Change]:
        """`on_batches` and, unless `since` is None, `sweep` at one instant, in one evaluation (a serving cycle).

        `people` adds profiles to re-decide: those an identity run touched, including ids it merged away (no
        batch record leads to those any more, and their memberships must end). `upto` is the log offset the
        lake holds (what the live path applied beyond it is newer than this evaluation).
        """
        parts = ([self._batch_people_sql(batch_ids)] if batch_ids else []) + (
            [swept_people_sql(self.boundaries, since, as_of)] if since is not None else [])
        if people:
            self.lake.execute(
                "CREATE OR REPLACE TEMP TABLE _stream_touched AS SELECT unnest(?::VARCHAR[]) AS person_id", [list(people)])
            parts.append("SELECT person_id FROM _stream_touched")
        changes = self.decide(" UNION ".join(parts), as_of, upto, batch_ids) if parts else []
        self.record()
        return changes

    def _batch_people_sql(self, batch_ids: Iterable[int]) -> str:
        """People touched by these batches directly, and the people of every account whose records changed."""
        in_batches = f"batch_id IN ({', '.join(str(int(b)) for b in batch_ids) or 'NULL'})"
        accounts = f"SELECT account_id FROM ({batch_accounts_sql(self.lake.schema, in_batches)})"
        return f"{batch_people_sql(self.lake.schema, in_batches)} UNION {linked_people_sql(accounts)}"

    def decide(self, people_sql: str, as_of: datetime | None = None, upto: int | None = None,
               batch_ids: Sequence[int] = ()) -> list[Change]:
        """Evaluate the streaming audiences for the people `people_sql` selects; publish and record what changed."""
        if not self.audiences:
            return []
        as_of = (as_of or now()).astimezone(timezone.utc)
        lake = self.lake
        lake.execute(f"CREATE OR REPLACE TEMP TABLE _stream_people AS {people_sql}")
        people = [r[0] for r in lake.execute("SELECT person_id FROM _stream_people").fetchall()]
        if not people:
            return []
        compiled = Compiler(as_of, self.lake.schema).compile_all(self.audiences + self.live.fact_audiences())
        read = compiled.tables_read() | ({"aud_person_events"} if self.live.tests else set())
        for name, sql in person_scoped_sql(self.lake.schema, "_stream_people").items():
            if name in read:
                lake.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        try:
            members: dict[str, set[str]] = defaultdict(set)
            table = lake_engine(self.lake).members(compiled)
            for audience, profile in zip(table.column("audience").to_pylist(), table.column("profile_id").to_pylist()):
                members[audience].add(profile)
            visible, whole = self.live.visible(people) if self.live.tests else ([], [])
            events = self._events(visible, whole, batch_ids)
        finally:
            # Scoped copies, custom objects' and features included: none may shadow the lake's tables.
            for name in (*person_tables(self.lake.schema), *(t for t, _ in compiled.feature_tables())):
                lake.execute(f"DROP TABLE IF EXISTS temp.{name}")
        changes = self.live.reconcile(people, members, events, whole, upto, as_of)
        self.bus.publish(changes)
        self.record()
        return changes

    def _events(self, visible: list[str], whole: list[str], batch_ids: Sequence[int]) -> dict[str, list[tuple[str, dict[str, object]]]]:
        """The events the lake holds (the scoped aud_person_events), as the live path keeps them: all of the
        `whole` people's, and the other `visible` people's from these batches."""
        out: dict[str, list[tuple[str, dict[str, object]]]] = defaultdict(list)
        if visible:
            batches = ", ".join(str(int(b)) for b in batch_ids) or "NULL"
            rows = self.lake.execute(
                'SELECT person_id, event_id, event_type, url, "timestamp", properties FROM aud_person_events '
                "WHERE person_id IN (SELECT unnest(?::VARCHAR[])) OR (person_id IN (SELECT unnest(?::VARCHAR[])) "
                f"AND event_id IN (SELECT source_key FROM event WHERE batch_id IN ({batches})))",
                [whole, visible]).fetchall()
            for person, event_id, event_type, url, at, properties in rows:
                out[person].append((event_id, {"event_type": event_type, "url": url, "timestamp": micros(at),
                                               "properties": properties}))
        return out

    def record(self) -> None:
        """Record the changes decided so far (live ones included), then tell the lake's readers."""
        changes = self.live.take_unrecorded()
        if not changes:
            return
        with streaming_run(self.lake) as run_id:
            try:
                record_changes(self.lake, run_id, changes)
            except BaseException:
                self.live.untake(changes)
                raise
        self.live.recorded(run_id)
        self.bus.publish_recorded(changes)


def streaming(audiences: list[Audience]) -> list[Audience]:
    """The audiences evaluated in streaming (the others only in batch runs)."""
    by_name = {a.name: a for a in audiences}
    return [a for a in audiences if evaluation_method(a, by_name)[0] == "streaming"]
