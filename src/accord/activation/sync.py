"""The sync engine: desired members minus acknowledged ones → adds and removes, delivered with receipts.

Before a batch is sent its changes are written down as in flight; after the destination answers, receipts and
acknowledgements replace them in one transaction. A run killed in between leaves the in-flight rows, and the
next run settles them first: asks the destination which changes arrived (when it can say) so nothing is sent
twice, and sends the rest. A change that keeps failing goes to the dead-letter list and stays out of later runs
until `accord deliveries retry`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import httpx
import pyarrow as pa

from accord.activation.deliveries import RUNNER, mark_interrupted
from accord.activation.destination import (
    Capabilities,
    DeliveryError,
    Destination,
    Member,
    Outcome,
)
from accord.activation.members import (
    Held,
    LiveMembers,
    acknowledged,
    audience_kind,
    current_members,
    fingerprint,
)
from accord.activation.reach import due, read_reach
from accord.connectors.errors import ConnectorError
from accord.connectors.pacing import MAX_WAIT_SECONDS
from accord.governance.consent import needed, refusal
from accord.lake.store import Lake, now
from accord.lake.turns import writing

_COLUMNS: dict[str, list[str]] = {}
"""The delivery tables' columns, in order: set by the migrations, so looked up once per process (a streaming run
writes three tables, and the lookup cost 2 ms a table on a busy store)."""


def destination_turn(name: str) -> str:
    """What a run of destination `name` holds (`lake/turns.py`) while it runs."""
    return f"destination {name}"


@dataclass
class AudienceReport:
    audience: str
    activated: int = 0
    removed: int = 0
    updated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    settled: int = 0
    retrying: int = 0
    unreachable: str | None = None
    blocked: str | None = None
    """Why nothing of the audience was sent: a policy keeps it from this destination, or the sandbox holds no
    audience of that name."""


@dataclass
class DeliveryReport:
    run_id: int
    destination: str
    audiences: list[AudienceReport] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    retry_in: float | None = None
    """Seconds the destination asked to wait before the `retrying` changes are sent again."""

    @property
    def problem(self) -> str | None:
        """What went wrong, the audiences not sent included (a run's record and /health say this)."""
        blocked = [f"{a.audience}: not sent, {a.blocked}" for a in self.audiences if a.blocked]
        return "; ".join(filter(None, [self.error, *blocked])) or None

    @property
    def unreachable(self) -> str | None:
        """Why the destination could not be reached, if it could not (its changes are kept as `retrying`)."""
        return next((a.unreachable for a in self.audiences if a.unreachable), None)

    def total(self, what: str) -> int:
        values = [getattr(a, what) for a in self.audiences]
        return sum(sum(v.values()) if isinstance(v, dict) else v for v in values)


@dataclass
class SyncPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_wait_seconds: float = MAX_WAIT_SECONDS
    sleep: Callable[[float], None] = time.sleep


class DeliverySync:
    """One run of one destination over some of its audiences."""

    def __init__(self, lake: Lake, name: str, destination: Destination, fields: list[str], policy: SyncPolicy,
                 live: LiveMembers | None = None, consent: tuple[str, ...] = needed(())) -> None:
        self.lake, self.name, self.destination, self.fields, self.policy = lake, name, destination, fields, policy
        self.live = live
        """The streaming audiences as the live path knows them (None: the lake's record is the membership)."""
        self.consent = consent
        """The consent columns a member must not refuse (from the destination's marketing actions)."""
        self.caps: Capabilities = destination.capabilities
        self._throttled: DeliveryError | None = None  # the destination asked for a pause longer than we wait
        self._lake_lock = threading.Lock()  # batches in flight together take turns recording
        self._sent = sorted({*fields, *(f"{n}s" for n in self.caps.identities)})
        """The member fields whose change the destination is told of."""
        self._sending: dict[str, str] = {}
        """Profile id → the fingerprint of what this run sends it, for the audience being sent (recorded with the
        member's acknowledgement)."""

    def run(self, audiences: list[str], trigger: str = "manual", only: dict[str, set[str]] | None = None,
            blocked: dict[str, str] | None = None) -> DeliveryReport:
        """Deliver the audiences' deltas; with `only`, just those of the profiles named per audience (a streaming
        run after a few changes, whose cost should not grow with the audience). `blocked` audiences (name → the
        policy violations that keep them back) are recorded in the run, and nothing of them is sent."""
        # A second run of this destination would take the first's changes in flight for a killed run's and send them
        # again: it waits its turn.
        with writing(self.lake, [destination_turn(self.name)]):
            return self._run(audiences, trigger, only, blocked)

    def _run(self, audiences: list[str], trigger: str, only: dict[str, set[str]] | None,
             blocked: dict[str, str] | None) -> DeliveryReport:
        started = time.perf_counter()
        mark_interrupted(self.lake)
        run_id = int(self.lake.scalar("SELECT nextval('delivery_run_seq')"))
        self.lake.execute(
            "INSERT INTO delivery_runs (run_id, destination, trigger, status, started_at, runner) "
            "VALUES (?, ?, ?, 'running', ?, ?)",
            [run_id, self.name, trigger, now(), RUNNER],
        )
        report = DeliveryReport(run_id, self.name)
        report.audiences += [AudienceReport(audience, blocked=why) for audience, why in (blocked or {}).items()]
        try:
            for audience in audiences:
                try:
                    report.audiences.append(self._audience(run_id, audience, (only or {}).get(audience)))
                except DeliveryError as err:  # the destination is unusable for this audience: say so, go on
                    report.error = "; ".join(filter(None, [report.error, f"{audience}: {err}"]))
            if self.caps.reports_reach and self._throttled is None:  # a platform that asked for a pause is left be
                read_reach(self.lake, self.name, self.destination, due(self.lake, self.name, audiences))
            if self._throttled is not None:
                report.retry_in = self._throttled.retry_after or self.policy.max_wait_seconds
        except BaseException as err:  # Ctrl-C too: an interrupted run is not a completed one
            report.error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            raise
        finally:
            report.seconds = time.perf_counter() - started
            status = "failed" if report.problem else "retrying" if report.total("retrying") else "completed"
            self.lake.execute(
                "UPDATE delivery_runs SET status = ?, finished_at = ?, activated = ?, removed = ?, updated = ?, "
                "skipped = ?, excluded = ?, failed = ?, error = ? WHERE run_id = ?",
                [status, now(), report.total("activated"), report.total("removed"), report.total("updated"),
                 report.total("skipped"), report.total("excluded"), report.total("failed"), report.problem, run_id],
            )
        return report

    # One audience ---------------------------------------------------------------------------------------------
    def _audience(self, run_id: int, audience: str, focus: set[str] | None = None) -> AudienceReport:
        report = AudienceReport(audience)
        self._sending = {}
        self._settle_in_flight(audience, report)
        wanted = current_members(self.lake, audience, self.fields, self.live, focus,
                                 self.caps.identities, self.caps.org)
        acked = acknowledged(self.lake, self.name, audience, focus)
        dead = {str(r[0]) for r in self.lake.execute(
            "SELECT profile_id FROM delivery_dead_letters WHERE destination = ? AND audience = ?",
            [self.name, audience]).fetchall()}
        eligible: list[Member] = []
        excluded: list[tuple[Member, str]] = []
        for member in wanted.members:
            if refused := refusal(member.fields, self.consent):
                excluded.append((member, refused))
            elif not any(member.fields.get(n) for n in self.caps.needs):
                excluded.append((member, "missing_identity"))
            else:
                eligible.append(member)
        keep = {m.profile_id for m in eligible} | wanted.awaited
        self._sending = {m.profile_id: fingerprint(m, self._sent) for m in eligible}
        adds = [m for m in eligible if m.profile_id not in acked and m.profile_id not in dead]
        kind = audience_kind(self.lake, audience)
        removes = [Member(p, {}, held.key, kind) for p, held in acked.items() if p not in keep and p not in dead]
        updates, unknown = self._changed(eligible, acked, dead)
        for _, reason in excluded:
            report.excluded[reason] = report.excluded.get(reason, 0) + 1
        with self.lake.transaction():
            self._receipts(run_id, audience, "add", [(m.profile_id, "excluded", reason) for m, reason in excluded
                                                     if m.profile_id not in acked], 0)
            self._remember_sent(audience, unknown)
        size = self.caps.batch_size
        batches = [(change, group[i:i + size])
                   for change, group in (("add", adds), ("update", updates), ("remove", removes))
                   for i in range(0, len(group), size)]
        def send(batch: tuple[str, list[Member]]) -> list[tuple[list[Outcome], str, int]]:
            return self._deliver(run_id, audience, batch[0], batch[1], report)

        workers = min(self.caps.concurrent_batches, len(batches))
        pending: list[tuple[list[Outcome], str, int]] = []
        if workers <= 1:  # a streaming run's few changes: no threads to start
            for batch in batches:
                pending += send(batch)
        else:
            with ThreadPoolExecutor(workers) as pool:
                for deferred in pool.map(send, batches):
                    pending += deferred
        if self.caps.commits_at_finish:
            snapshot = eligible if self.caps.wants_snapshot else []
            try:
                self.destination.finish(audience, run_id, snapshot)
            except DeliveryError as err:
                with self.lake.transaction():
                    for outcomes, change, attempts in pending:
                        self._clear_in_flight(audience, [o.profile_id for o in outcomes])
                        self._dead_letter(run_id, audience, change, [(o.profile_id, str(err)) for o in outcomes],
                                          attempts, report)
                return report
            with self.lake.transaction():
                for outcomes, change, attempts in pending:
                    self._clear_in_flight(audience, [o.profile_id for o in outcomes])
                    self._record(run_id, audience, change, outcomes, attempts, report)
        return report

    def _deliver(self, run_id: int, audience: str, change: str, batch: list[Member],
                 report: AudienceReport) -> list[tuple[list[Outcome], str, int]]:
        """Send one batch with retries; returns the outcomes still to record (for commit-at-finish destinations)."""
        waiting = list(batch)
        deferred: list[tuple[list[Outcome], str, int]] = []
        attempt = 0
        while waiting:
            if self._throttled is not None:
                self._retry_later(run_id, audience, change, waiting, attempt, report)
                return deferred
            attempt += 1
            stamp = now()
            with self._recording():
                self._insert("delivery_in_flight", [(self.name, audience, m.profile_id, change, run_id, stamp)
                                                    for m in waiting])
            try:
                outcomes = getattr(self.destination, change)(audience, waiting)  # add, update or remove
            except Exception as raised:  # noqa: BLE001 - whatever a destination raises, the change gets a receipt
                err = _as_delivery_error(raised)
                unreachable = err.unreachable and attempt >= self.policy.max_attempts
                if unreachable or (err.retryable and (err.retry_after or 0) > self.policy.max_wait_seconds):
                    # Down or throttling for longer than a run waits: keep the changes for a later run, not as
                    # dead letters a person must release.
                    self._throttled = err
                    report.unreachable = str(err) if unreachable else None
                    with self._recording():
                        self._clear_in_flight(audience, [m.profile_id for m in waiting])
                    continue
                if err.retryable and attempt < self.policy.max_attempts:
                    self._pause(attempt, err.retry_after)
                    continue
                with self._recording():
                    self._clear_in_flight(audience, [m.profile_id for m in waiting])
                    self._dead_letter(run_id, audience, change, [(m.profile_id, str(err)) for m in waiting], attempt,
                                      report)
                return deferred
            by_id = {m.profile_id: m for m in waiting}
            retry = [o for o in outcomes if o.status == "failed" and o.retry and attempt < self.policy.max_attempts]
            final = [o for o in outcomes if o not in retry]
            if self.caps.commits_at_finish:
                deferred.append((final, change, attempt))
            else:
                with self._recording():
                    self._clear_in_flight(audience, [o.profile_id for o in final])
                    self._record(run_id, audience, change, final, attempt, report)
            waiting = [by_id[o.profile_id] for o in retry]
            if waiting:
                with self._recording():
                    self._clear_in_flight(audience, [m.profile_id for m in waiting])
                self._pause(attempt, None)
        return deferred

    def _changed(self, eligible: list[Member], acked: dict[str, Held],
                 dead: set[str]) -> tuple[list[Member], list[str]]:
        """Members the destination holds that it is now sent differently (with the key it holds them by), and
        those acknowledged before what they were sent was kept (taken as sent as they are now)."""
        updates, unknown = [], []
        for member in eligible:
            held = acked.get(member.profile_id)
            if held is None or member.profile_id in dead:
                continue
            if held.sent is None:
                unknown.append(member.profile_id)
            elif held.sent != self._sending[member.profile_id] and self.caps.updates:
                updates.append(replace(member, key=held.key))
        return updates, unknown

    def _remember_sent(self, audience: str, profile_ids: list[str]) -> None:
        if profile_ids:
            self.lake.register("_sent_rows", pa.table({"profile_id": profile_ids,
                                                       "sent": [self._sending[p] for p in profile_ids]}))
            try:
                self.lake.execute(
                    "UPDATE destination_members d SET sent = s.sent FROM _sent_rows s "
                    "WHERE d.destination = ? AND d.audience = ? AND d.profile_id = s.profile_id",
                    [self.name, audience])
            finally:
                self.lake.unregister("_sent_rows")

    def _retry_later(self, run_id: int, audience: str, change: str, members: list[Member], attempts: int,
                     report: AudienceReport) -> None:
        """Changes the destination asked to hold longer than a run waits: receipts say so, a later run sends them
        (they are neither acknowledged nor dead-lettered, so they stay in the next delta)."""
        assert self._throttled is not None
        wait = self._throttled.retry_after
        reason = str(self._throttled) + (f"; the destination asked to wait {wait:.0f} s (Retry-After)" if wait else
                                         "; the destination could not be reached")
        with self._recording():
            self._receipts(run_id, audience, change, [(m.profile_id, "retrying", reason) for m in members], attempts)
            report.retrying += len(members)

    def _settle_in_flight(self, audience: str, report: AudienceReport) -> None:
        """Changes a killed run sent without recording: ask the destination which arrived, record those."""
        rows = self.lake.execute(
            "SELECT DISTINCT profile_id, change, run_id FROM delivery_in_flight WHERE destination = ? AND audience = ?",
            [self.name, audience],
        ).fetchall()
        if not rows:
            return
        if self.caps.can_check:
            keys = {p: held.key for p, held in acknowledged(self.lake, self.name, audience).items()}
            wanted = current_members(self.lake, audience, self.fields, self.live, identities=self.caps.identities,
                                     org=self.caps.org)
            members = {m.profile_id: m for m in wanted.members}
            kind = audience_kind(self.lake, audience)
            for change, run_id in sorted({(c, r) for _, c, r in rows if c != "update"}):
                # An add is found by the member's fields (e-mail, lead ids), a remove by what the add recorded. An
                # update is not asked about: its member keeps the fingerprint it had, so the next delta sends it
                # again (adding is idempotent where it updates).
                asked = [members.get(p, Member(p, kind=kind)) if change == "add" else Member(p, {}, keys.get(p), kind)
                         for p, c, r in rows if (c, r) == (change, run_id)]
                arrived = self.destination.reached(audience, asked, change, run_id)
                status = "added" if change == "add" else "removed"
                settled = [Outcome(p, status, "settled after an interrupted run", key) for p, key in arrived.items()]
                with self.lake.transaction():
                    self._record(run_id, audience, change, settled, 1, report)
                report.settled += len(settled)
        with self.lake.transaction():
            self._clear_in_flight(audience, [p for p, _, _ in rows])

    # Bookkeeping (set-based: one statement per kind of row, not one per member) ------------------------------
    def _record(self, run_id: int, audience: str, change: str, outcomes: list[Outcome], attempts: int,
                report: AudienceReport) -> None:
        """Acknowledge what arrived, forget what left, count skips, dead-letter failures; a receipt for each."""
        stamp = now()
        added = [o for o in outcomes if o.status in ("added", "updated")]
        # A member already gone from the destination is as removed as it gets.
        removed = [o for o in outcomes if o.status == "removed" or (change == "remove" and o.status == "skipped")]
        skipped = [o for o in outcomes if o.status == "skipped" and change != "remove"]
        failed = [o for o in outcomes if o.status == "failed"]
        self._insert("destination_members", [(self.name, audience, o.profile_id, o.key, stamp,
                                              self._sending.get(o.profile_id)) for o in added], replace=True)
        self._forget(audience, [o.profile_id for o in removed])
        report.activated += sum(o.status == "added" for o in added)
        report.updated += sum(o.status == "updated" for o in added)
        report.removed += len(removed)
        for outcome in skipped:
            reason = outcome.reason or "skipped"
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
        self._dead_letter(run_id, audience, change, [(o.profile_id, o.reason or "failed") for o in failed], attempts,
                          report)
        self._receipts(run_id, audience, change, [(o.profile_id, o.status, o.reason) for o in outcomes
                                                  if o.status != "failed"], attempts)

    def _dead_letter(self, run_id: int, audience: str, change: str, failures: list[tuple[str, str]], attempts: int,
                     report: AudienceReport) -> None:
        stamp = now()
        self._insert("delivery_dead_letters", [(self.name, audience, p, change, error, attempts, run_id, stamp)
                                               for p, error in failures], replace=True)
        self._receipts(run_id, audience, change, [(p, "failed", error) for p, error in failures], attempts)
        report.failed += len(failures)
        for _, error in failures:
            report.failures[error] = report.failures.get(error, 0) + 1

    def _receipts(self, run_id: int, audience: str, change: str, rows: list[tuple[str, str, str | None]],
                  attempts: int) -> None:
        stamp = now()
        self._insert("delivery_receipts", [(run_id, self.name, audience, p, change, outcome, reason, attempts, stamp)
                                           for p, outcome, reason in rows])

    def _insert(self, table: str, rows: list[tuple[object, ...]], replace: bool = False) -> None:
        if not rows:
            return
        if table not in _COLUMNS:
            _COLUMNS[table] = [r[0] for r in self.lake.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [table]).fetchall()]
        columns = _COLUMNS[table]
        arrow = pa.Table.from_pylist([dict(zip(columns, r)) for r in rows])
        self.lake.register("_activation_rows", arrow)
        try:
            verb = "INSERT OR REPLACE" if replace else "INSERT"
            self.lake.execute(f"{verb} INTO {table} BY NAME SELECT * FROM _activation_rows")
        finally:
            self.lake.unregister("_activation_rows")

    def _forget(self, audience: str, profile_ids: list[str]) -> None:
        if profile_ids:
            self.lake.execute(
                "DELETE FROM destination_members WHERE destination = ? AND audience = ? AND list_contains(?, profile_id)",
                [self.name, audience, profile_ids],
            )

    def _clear_in_flight(self, audience: str, profile_ids: list[str]) -> None:
        if profile_ids:
            self.lake.execute(
                "DELETE FROM delivery_in_flight WHERE destination = ? AND audience = ? AND list_contains(?, profile_id)",
                [self.name, audience, profile_ids],
            )

    @contextmanager
    def _recording(self) -> Iterator[None]:
        """One batch's writes, atomic and one batch at a time (batches are sent together, recorded in turn)."""
        with self._lake_lock, self.lake.transaction():
            yield

    def _pause(self, attempt: int, retry_after: float | None) -> None:
        wait = min(self.policy.backoff_seconds * 2 ** (attempt - 1), 60.0)
        self.policy.sleep(min(max(wait, retry_after or 0.0), self.policy.max_wait_seconds))


def _as_delivery_error(raised: Exception) -> DeliveryError:
    """What a destination raised, as a delivery error: its client's verdict when it gave one, else a network
    failure is worth retrying and anything else not."""
    if isinstance(raised, DeliveryError):
        return raised
    if isinstance(raised, ConnectorError):
        return DeliveryError(str(raised), retryable=raised.retryable, retry_after=raised.retry_after,
                             unreachable=raised.unreachable)
    return DeliveryError(f"{type(raised).__name__}: {raised}", retryable=False,
                         unreachable=isinstance(raised, (httpx.TransportError, OSError)))
