"""The live path: streaming audiences re-decided in memory the moment a collector event is on disk.

The lake stays the authority. Each serving cycle loads the log up to the offset the live path has applied,
restitches and decides the people concerned in SQL; `reconcile` then replaces those people's in-memory state with
the lake's, replays the events that arrived since, and takes the lake's answer wherever nothing newer came in.
Between cycles an event of a known person, or of a brand-new one, is decided from per-profile state: the
timestamps of events matching each audience's event tests, and its facts (see `plan.py`). Anything the live path
cannot judge alone (a message that would merge profiles, identify or group traits, an unknown fact) is left to
the next cycle.
"""

from __future__ import annotations

import queue
import threading
from bisect import insort
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from accord.audiences.ast import Audience
from accord.audiences.changes import Change, MembershipBus
from accord.audiences.memberships import ACTIVE_ROWS, last_recording
from accord.audiences.plan import EventTest, Plan, keep, plan
from accord.identity.history import last_run
from accord.identity.nodes import RECORD_NAMESPACE, identities_sql
from accord.identity.resolve import reserve_ids
from accord.lake.store import Lake
from accord.model.times import micros
from accord.sources.collector import (
    SOURCE_TYPE,
    collects,
    consent_reason,
    event_fields,
    event_id,
    event_properties,
    message_ids,
    message_time,
    person_key,
    segment_consent,
    source_key,
)

Key = tuple[str, str]  # identity namespace, value
EVENT_MESSAGES = ("track", "page", "screen")
RESERVE = 10_000
"""Profile ids reserved ahead for new people (the identity run gives each the id the live path chose)."""


@dataclass
class Applied:
    """An event applied from the log, kept until the lake holds it."""

    offset: int
    key: Key  # the person record it belongs to
    event_id: str
    row: dict[str, Any]


@dataclass
class ProfileState:
    facts: dict[str, bool] | None  # fact name → value; None while the lake has not judged this person
    hits: dict[str, list[int]] = field(default_factory=dict)  # event test key → sorted timestamps, the newest
    dropped: dict[str, int] = field(default_factory=dict)  # test key → newest timestamp dropped (older may be gone)
    seen: dict[str, int] = field(default_factory=dict)  # ids of the events kept in `hits` → their timestamps
    applied: list[Applied] = field(default_factory=list)
    stale_until: int | None = None  # a message up to this log offset concerns the person and was not applied
    prune_at: int = 64  # `seen` is pruned when it grows past this (then twice what is left): amortised O(1)

    def add(self, event_id: str, row: Mapping[str, Any], tests: Sequence[EventTest],
            keep: Mapping[str, int | None] | None = None) -> bool:
        """Add an event once (by id); per test only the `keep[key]` newest timestamps stay, so memory is bounded."""
        if event_id in self.seen:
            return False
        stamp = row["timestamp"]
        for test in tests:
            if test(row) and stamp > self.dropped.get(test.key, -1 << 63):
                stamps = self.hits.setdefault(test.key, [])
                insort(stamps, stamp)
                self.seen[event_id] = stamp
                limit = (keep or {}).get(test.key)
                if limit is not None and len(stamps) > limit:
                    self.dropped[test.key] = max(self.dropped.get(test.key, stamps[0]), stamps.pop(0))
        if len(self.seen) > self.prune_at and len(self.dropped) == len(self.hits):
            # An id older than every test's dropped boundary no longer guards anything: a copy would be dropped.
            floor = min(self.dropped.values())
            self.seen = {k: t for k, t in self.seen.items() if t > floor}
            self.prune_at = max(64, 2 * len(self.seen))
        return True


class LiveProfiles:
    """In-memory identities, profile state and membership of the streaming audiences; safe across threads."""

    def __init__(self, bus: MembershipBus, instance: str = "", track_events: dict[str, str] | None = None,
                 offset: int | None = None) -> None:
        self.bus = bus
        self.instance = instance
        self.track_events = dict(track_events or {})
        self.offset = offset  # log bytes applied; None when no log feeds this
        self.lock = threading.RLock()
        self.audiences: list[str] = []
        self.plans: dict[str, Plan] = {}
        self.tests: tuple[EventTest, ...] = ()
        self.keep: dict[str, int | None] = {}  # test key → newest timestamps a profile keeps (None: all)
        self.index: dict[Key, str] = {}
        self.keys_of: dict[str, set[Key]] = defaultdict(set)
        self.profiles: dict[str, ProfileState] = {}
        self.members: dict[str, set[str]] = {}
        self.pending: dict[Key, int] = {}  # keys of messages left to the lake, with their offsets
        self.seeds: list[tuple[int, str, list[Key]]] = []
        self.unstored: dict[str, dict[str, str | None]] = {}
        """The person columns of profiles opened here, as the lake will build them, until the lake decides them."""
        self.unrecorded: list[Change] = []
        self.ids: list[str] = []
        self._opened = 0  # new profiles since the last top-up
        self._stamps: dict[tuple[Any, Any, Any], int | None] = {}
        self._restitched: set[str] = set()  # profiles an identity run changed since their state was loaded
        self._deferred: set[str] = set()
        """Profiles whose lake decision was not taken (a message newer than it concerned them): the next cycle
        decides them again, as that message may load on another profile's record and leave them untouched."""
        self.error: str | None = None
        self._identity_run: object = ()  # the lake's identity run and membership recording this state knows
        self._recorded_run: object = ()
        self._queue: queue.SimpleQueue[tuple[list[dict[str, Any]], int]] = queue.SimpleQueue()

    # -- set-up, by the worker that owns the lake ----------------------------------------------------------
    def attach(self, lake: Lake, audiences: list[Audience]) -> None:
        """Take the streaming `audiences` and the lake's state (after it was opened, perhaps changed by others)."""
        plans = {a.name: p for a in audiences if (p := plan(a)) is not None}
        tests = {t.key: t for p in plans.values() for t in p.tests}
        plans_changed = plans != self.plans or [a.name for a in audiences] != self.audiences
        run = last_run(lake)
        # The index is read before the plans take effect: else a known person would look new meanwhile.
        rows = self._index_rows(lake, bool(plans), None) if plans_changed or run != self._identity_run else None
        with self.lock:
            if plans_changed:
                self.profiles.clear()
            self.audiences = [a.name for a in audiences]
            self.plans, self.tests = plans, tuple(tests.values())
            self.keep = keep(plans.values())
            if rows is not None:
                self._set_index(rows, run)
        if self._recorded_run != last_recording(lake) or plans_changed:
            self.reload_members(lake)
        self.top_up(lake)

    def members_of(self, audience: str, among: Iterable[str] | None = None) -> list[str] | None:
        """The audience's members as decided here (recorded or not yet) — only those `among` some profiles, when
        given — or None for an audience not streamed."""
        with self.lock:
            found = self.members.get(audience)
            if found is None:
                return None
            return sorted(found if among is None else [p for p in among if p in found])

    def deferred_people(self) -> list[str]:
        with self.lock:
            return sorted(self._deferred)

    def unstored_people(self, profiles: Iterable[str]) -> dict[str, dict[str, str | None]]:
        """The person columns of those `profiles` opened here that the lake does not hold yet, as it will hold
        them; a profile with a message left to the lake (traits it will add) is not among them."""
        with self.lock:
            return {p: dict(row) for p in profiles if (row := self.unstored.get(p)) is not None
                    and (state := self.profiles.get(p)) is not None and state.stale_until is None}

    def fact_audiences(self) -> list[Audience]:
        return [a for p in self.plans.values() for a in p.fact_audiences()]

    def reload_identities(self, lake: Lake) -> None:
        rows = self._index_rows(lake, bool(self.plans), None)
        run = last_run(lake)
        with self.lock:
            self._set_index(rows, run)

    @staticmethod
    def _index_rows(lake: Lake, wanted: bool, profiles: list[str] | None) -> list[tuple[str, str, str]]:
        """The collector people's keys as the lake has them, of all people or of `profiles` (none while no
        audience can be decided live)."""
        if not wanted:
            return []
        among = "SELECT unnest(?::VARCHAR[])" if profiles is not None else None
        return lake.execute(f"SELECT * FROM ({identities_sql('person', among)}) WHERE {_KEYS}",
                            [profiles] if profiles is not None else []).fetchall()

    def _set_index(self, rows: list[tuple[str, str, str]], run: object) -> None:
        self.index, self.keys_of = {}, defaultdict(set)
        for namespace, value, profile in rows:
            self._register((namespace, value), profile)
        for _, profile, keys in self.seeds:  # opened, not yet in the lake
            for key in keys:
                self._register(key, profile)
        # Identities changed behind this state (or were all rebuilt): only people not in the lake yet are kept.
        opened = {profile for _, profile, _ in self.seeds}
        self.profiles = {p: s for p, s in self.profiles.items() if p in opened}
        self._identity_run = run

    def reload_members(self, lake: Lake) -> None:
        """The recorded membership, and on top what was decided but not recorded yet."""
        rows = lake.execute(
            f"{ACTIVE_ROWS} AND audience IN (SELECT unnest(?::VARCHAR[]))", [self.audiences]).fetchall()
        with self.lock:
            members: dict[str, set[str]] = {a: set() for a in self.audiences}
            for audience, profile in rows:
                members[audience].add(profile)
            for change in self.unrecorded:
                if change.audience in members:
                    (members[change.audience].add if change.status == "realized" else members[change.audience].discard)(change.profile_id)
            self.members = members
        self.recorded(last_recording(lake))

    def recorded(self, run: object) -> None:
        """Note that the lake's membership, as of recording `run`, is what this state holds."""
        self._recorded_run = run

    def top_up(self, lake: Lake) -> None:
        """Keep ids for at least three times as many new people as came since the last top-up (a cycle)."""
        with self.lock:
            want = max(RESERVE, 3 * self._opened)
            self._opened = 0
            short = want - len(self.ids) if len(self.ids) < want // 2 and self.plans else 0
        if short:
            fresh = reserve_ids(lake, "person", short)
            with self.lock:
                self.ids = fresh + self.ids

    # -- the log's side -------------------------------------------------------------------------------------
    def feed(self, entries: list[dict[str, Any]], offset: int) -> None:
        """Logged entries (written and synced up to `offset`), to apply in the live thread."""
        if not self.plans and self._queue.empty():
            with self.lock:  # nothing to decide: spare the hand-off to another thread (it costs the collector)
                self.offset = offset
            return
        self._queue.put((entries, offset))

    def run(self, stop: threading.Event) -> None:
        """The live thread: apply what the log wrote, in its order, until `stop`."""
        while not stop.is_set():
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.apply(*item)
                self.error = None
            except Exception as err:  # noqa: BLE001 - the lake's cycle still decides everyone; /health shows it
                self.error = f"{type(err).__name__}: {err}"
                with self.lock:
                    self.profiles.clear()

    def apply(self, entries: list[dict[str, Any]], offset: int, at: datetime | None = None) -> list[Change]:
        """Decide the events of synced log entries (up to `offset`) at `at`; publish and return the changes."""
        changes: list[Change] = []
        at = at or datetime.now(timezone.utc)
        with self.lock:
            try:
                if self.plans:
                    for entry in entries:
                        for message in entry["batch"]:
                            self._message(message, entry.get("receivedAt"), offset, at, changes)
            finally:
                self.offset = offset  # whatever happened here, the lake may load it: the log has it
        self.bus.publish(changes)
        return changes

    def _message(self, m: dict[str, Any], received: str | None, offset: int, at: datetime, changes: list[Change]) -> None:
        keys = self._keys(m)
        known = {self.index[k] for k in keys if k in self.index}
        event = m["type"] in EVENT_MESSAGES and collects(m)  # as the lake keeps it: not when Analytics is refused
        when = self._micros(m, received) if event else None
        if (when is None or any(k in self.pending for k in keys) or len(known) > 1
                or (known and not all(k in self.index for k in keys))):
            self._hold(keys, known, offset)
            return
        if known:
            profile = known.pop()
            state = self.profiles.get(profile)
            if state is None or state.stale_until is not None or profile in self._restitched:
                if state is not None:
                    state.stale_until = offset
                return
        elif self.ids:
            profile = self.ids.pop()
            self._opened += 1
            for key in keys:
                self._register(key, profile)
            self.seeds.append((offset, profile, keys))
            state = self.profiles[profile] = ProfileState(facts=None)
            self.unstored[profile] = dict(zip(("user_id", "anonymous_id"), message_ids(m)))
        else:
            self._hold(keys, known, offset)
            return
        if profile in self.unstored and (stated := segment_consent(m)):
            _state_consent(self.unstored[profile], stated, consent_reason(m))
        event_type, url = event_fields(m, self.track_events)
        key = source_key(event_id(m), self.instance)  # as the lake keys it: a retry is no new event
        row = {"event_type": event_type, "url": url, "timestamp": when, "properties": event_properties(m)}
        if state.add(key, row, self.tests, self.keep):
            state.applied.append(Applied(offset, keys[0], key, row))
            self._decide(profile, state, at, changes)

    def _micros(self, m: dict[str, Any], received: str | None) -> int | None:
        """When an event happened (`message_time`, as the lake reads it), in microseconds; found once per
        timestamp, sentAt and receipt, which the events of one batch often share."""
        key = (m.get("timestamp"), m.get("sentAt"), received)
        if key not in self._stamps:
            if len(self._stamps) > 10_000:
                self._stamps.clear()
            moment = message_time(m, received)
            self._stamps[key] = micros(moment) if moment else None
        return self._stamps[key]

    def _keys(self, m: dict[str, Any]) -> list[Key]:
        record = source_key(f"alias:{m['previousId']}", self.instance) if m["type"] == "alias" else person_key(m, self.instance)
        keys: list[Key] = [(RECORD_NAMESPACE["person"], record)]
        if m.get("userId"):
            keys.append(("user_id", str(m["userId"])))
        anonymous = m.get("previousId") if m["type"] == "alias" else m.get("anonymousId")
        if anonymous:
            keys.append(("anonymous_id", str(anonymous)))
        return keys

    def _hold(self, keys: Iterable[Key], known: Iterable[str], offset: int) -> None:
        """Leave a message to the lake: its keys wait for it, and its people's state lacks it until then."""
        for key in keys:
            self.pending[key] = offset
        for profile in known:
            if profile in self.profiles:
                self.profiles[profile].stale_until = offset

    def _register(self, key: Key, profile: str) -> None:
        old = self.index.get(key)
        if old is not None and old != profile:
            self.keys_of[old].discard(key)
            if not self.keys_of[old]:
                del self.keys_of[old]
        self.index[key] = profile
        self.keys_of[profile].add(key)

    def _decide(self, profile: str, state: ProfileState, at: datetime, changes: list[Change]) -> None:
        now = micros(at)
        for name, p in self.plans.items():
            value = p.decide(state.hits, state.facts, now, state.dropped)
            if value is not None:
                self._set(name, profile, value, at, changes)

    def _set(self, audience: str, profile: str, member: bool, at: datetime, changes: list[Change]) -> None:
        members = self.members.setdefault(audience, set())
        if member == (profile in members):
            return
        (members.add if member else members.discard)(profile)
        change = Change(audience, profile, "realized" if member else "exited", at)
        changes.append(change)
        self.unrecorded.append(change)

    # -- the worker's side ----------------------------------------------------------------------------------
    def snapshot(self) -> tuple[int | None, list[tuple[int, str, list[Key]]]]:
        """The log offset the lake may load up to now, and the new profiles opened up to there (to seed)."""
        with self.lock:
            return self.offset, list(self.seeds)

    def seeded(self, count: int) -> None:
        with self.lock:
            del self.seeds[:count]

    def refresh_identities(self, lake: Lake, touched: list[str] | None, upto: int | None) -> None:
        """After an identity run: the touched profiles' keys as the lake has them; events applied to a profile
        that was merged away move to the one that holds their person now."""
        if touched is None:
            self.reload_identities(lake)
        elif touched and self.plans:
            rows = self._index_rows(lake, True, touched)
            with self.lock:
                for namespace, value, profile in rows:
                    self._register((namespace, value), profile)
                for profile in touched:
                    self._move_applied(profile)
                self._restitched.update(touched)
        if touched is not None:
            self._identity_run = last_run(lake)
        with self.lock:
            self.pending = {k: o for k, o in self.pending.items() if upto is not None and o > upto}

    def _move_applied(self, profile: str) -> None:
        state = self.profiles.get(profile)
        if state is None:
            return
        staying = []
        for item in state.applied:
            owner = self.index.get(item.key, profile)
            if owner == profile:
                staying.append(item)
            else:
                target = self.profiles.setdefault(owner, ProfileState(facts=None))
                target.applied.append(item)
        state.applied = staying
        if profile not in self.keys_of:
            del self.profiles[profile]
            self.unstored.pop(profile, None)

    def visible(self, people: Iterable[str]) -> tuple[list[str], list[str]]:
        """Which of `people` the live path keeps state for (they hold a collector record, or have state), and
        which of those need their whole event history from the lake (new to memory, or restitched); the others
        need only the events of the batches being decided."""
        with self.lock:
            kept = [p for p in people if p in self.keys_of or p in self.profiles]
            whole = [p for p in kept if p not in self.profiles or p in self._restitched]
        return kept, whole

    def reconcile(self, people: Sequence[str], members: Mapping[str, set[str]],
                  events: Mapping[str, list[tuple[str, dict[str, Any]]]], whole: Iterable[str], upto: int | None,
                  at: datetime) -> list[Change]:
        """Take the lake's decision (`members` by audience, facts included) for `people`, evaluated with the log
        up to `upto`. Each visible person's state takes the lake's `events` (all of them for the `whole` ones,
        else those of the decided batches) plus what came since; where something came since, the live path
        decides instead (or, if it cannot, the next cycle)."""
        changes: list[Change] = []
        whole = set(whole)
        with self.lock:
            for profile in people:
                self.unstored.pop(profile, None)
                self._deferred.discard(profile)
                old = self.profiles.get(profile)
                newer: list[Applied] = []
                stale = None
                if old is not None or profile in self.keys_of:
                    newer = [a for a in (old.applied if old else []) if upto is None or a.offset > upto]
                    stale = old.stale_until if old and old.stale_until is not None and upto is not None and old.stale_until > upto else None
                    base = None if profile in whole or old is None else old
                    state = self._rebuilt(profile, members, events.get(profile, []), newer, stale, base)
                    self._restitched.discard(profile)
                for audience in self.audiences:
                    if newer or stale is not None:
                        p = self.plans.get(audience)
                        value = (p.decide(state.hits, state.facts, at, state.dropped)
                                 if p is not None and stale is None else None)
                        if value is None:
                            self._deferred.add(profile)
                            continue
                    else:
                        value = profile in members.get(audience, ())
                    self._set(audience, profile, value, at, changes)
        return changes

    def _rebuilt(self, profile: str, members: Mapping[str, set[str]], events: list[tuple[str, dict[str, Any]]],
                 newer: list[Applied], stale: int | None, base: ProfileState | None) -> ProfileState:
        """The state of `profile` from the lake's facts and `events` (added to `base`'s, if given) and `newer`."""
        facts = {name: profile in members.get(name, ()) for p in self.plans.values() for name in p.fact_names()}
        state = ProfileState(facts=facts, stale_until=stale)
        if base is not None:
            state.hits, state.seen, state.dropped = base.hits, base.seen, base.dropped
        for key, row in events:
            state.add(key, row, self.tests, self.keep)
        for item in newer:
            state.add(item.event_id, item.row, self.tests, self.keep)
            state.applied.append(item)
        if profile in self.keys_of:
            self.profiles[profile] = state
        else:
            self.profiles.pop(profile, None)
        return state

    def take_unrecorded(self) -> list[Change]:
        with self.lock:
            taken, self.unrecorded = self.unrecorded, []
        return taken

    def untake(self, changes: list[Change]) -> None:
        """Changes that could not be recorded, to try again first next time."""
        with self.lock:
            self.unrecorded = changes + self.unrecorded


def _state_consent(row: dict[str, str | None], stated: Mapping[str, str], reason: str) -> None:
    """Add a message's consent to a new person's columns: a refusal stays, whatever came before or after (the
    lake may weigh them by time; the live path never sends what any of them refused)."""
    for column, value in stated.items():
        if row.get(column) != "n":
            row[column] = value
            row["consent_reason"] = reason


_KEYS = (f"namespace IN ('user_id', 'anonymous_id') "
         f"OR (namespace = '{RECORD_NAMESPACE['person']}' AND value LIKE '%.{SOURCE_TYPE}')")
