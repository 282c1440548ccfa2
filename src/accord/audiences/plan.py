"""A streaming person audience split for the live path: event tests decided in memory, the rest left to SQL.

An audience's condition is a tree of and/or/not over leaves. A leaf about the person's events (`any event (...)`,
`count(event ...) >= n`, `last event (...) before n days ago`) is decided from the timestamps of the person's
matching events. Any other leaf (a person or account field, an opportunity, a list) is a *fact*: the lake computes
it per person, and a person whose facts are not known yet has them unknown. The tree is evaluated in three-valued
logic, so a decision that does not depend on an unknown fact is still made.

Memory stays bounded: per test a person keeps only the most recent timestamps its leaves can need (`keep`, e.g. one
for `any event (...)`, n + 1 for `count(...) >= n`, plus a margin). Below the newest one dropped (`dropped`) events
may be missing, so a leaf whose window reaches there is decided only when what was kept already settles it, and is
unknown (left to the lake) otherwise.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

from accord.audiences.ast import (
    Aggregate,
    And,
    Audience,
    Condition,
    InAudience,
    Node,
    Not,
    Occurrence,
    Or,
    Quantified,
    Window,
    walk,
)
from accord.audiences.rows import COMPARE, matches, supported
from accord.model.times import micros

DAY = 86_400_000_000
KEEP_MARGIN = 8
"""Timestamps kept beyond what the leaves need, for events dated after the decision time (client clocks)."""


@dataclass(frozen=True)
class EventTest:
    """Which events a leaf counts: those matching `where` (or, negated, those not matching it)."""

    where: Condition | None
    negated: bool = False
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        text = self.where.model_dump_json() if self.where is not None else "true"
        object.__setattr__(self, "key", ("not " if self.negated else "") + text)

    def __call__(self, row: Mapping[str, object]) -> bool:
        hit = True if self.where is None else matches(self.where, row)
        return hit != self.negated


@dataclass(frozen=True)
class Plan:
    audience: str
    where: Condition
    facts: tuple[Condition, ...]  # leaves left to SQL, in the order `fact_name` numbers them
    tests: tuple[EventTest, ...]
    leaves: dict[int, EventTest | str] = field(compare=False, repr=False)  # id of a leaf → its test, or fact name

    def fact_names(self) -> list[str]:
        return [_fact_name(self.audience, i) for i in range(len(self.facts))]

    def fact_audiences(self) -> list[Audience]:
        """Each fact as a person audience of its own, for SQL to evaluate next to the real ones."""
        return [Audience(name=n, of="person", where=f) for n, f in zip(self.fact_names(), self.facts)]

    def decide(self, hits: Mapping[str, Sequence[int]], facts: Mapping[str, bool] | None, as_of: datetime | int,
               dropped: Mapping[str, int] | None = None) -> bool | None:
        """Membership at `as_of` (or that many microseconds since the epoch) from sorted event timestamps per test
        key, or None when an unknown fact or a dropped timestamp (at or before `dropped[key]`) decides."""
        return _value(self.where, self, hits, facts, as_of if isinstance(as_of, int) else micros(as_of),
                      dropped or {})



def keep(plans: Iterable[Plan]) -> dict[str, int | None]:
    """Per test key, how many of the most recent timestamps the plans' leaves can need (None: all of them)."""
    out: dict[str, int | None] = {}
    for p in plans:
        for leaf in _leaves(p.where):
            test = p.leaves[id(leaf)]
            if isinstance(test, EventTest):
                need, known = _needed(leaf), out.get(test.key, 0)
                out[test.key] = None if need is None or known is None else max(known, need + KEEP_MARGIN)
    return out


def plan(audience: Audience) -> Plan | None:
    """The live plan of a person audience, or None when it must stay with SQL (it uses another audience)."""
    if audience.of != "person" or any(isinstance(n, InAudience) for n in walk(audience.where)):
        return None
    facts: list[Condition] = []
    tests: dict[str, EventTest] = {}
    leaves: dict[int, EventTest | str] = {}
    for leaf in _leaves(audience.where):
        test = _event_test(leaf)
        if test is None:
            leaves[id(leaf)] = _fact_name(audience.name, len(facts))
            facts.append(leaf)
        else:
            leaves[id(leaf)] = tests.setdefault(test.key, test)
    return Plan(audience.name, audience.where, tuple(facts), tuple(tests.values()), leaves)


def _fact_name(audience: str, index: int) -> str:
    return f"{audience}\x1ffact{index}"


def _leaves(cond: Condition) -> list[Condition]:
    if isinstance(cond, (And, Or)):
        return [leaf for item in cond.items for leaf in _leaves(item)]
    if isinstance(cond, Not):
        return _leaves(cond.item)
    return [cond]


def _event_test(leaf: Node) -> EventTest | None:
    """The events a leaf about events counts, or None if the leaf is a fact."""
    if isinstance(leaf, Quantified) and leaf.relation == "event":
        where = leaf.where
    elif isinstance(leaf, Aggregate) and leaf.relation == "event" and leaf.function == "count":
        where = leaf.where
    elif isinstance(leaf, Occurrence):
        where = leaf.where
    else:
        return None
    if where is not None and not supported(where):
        return None
    return EventTest(where, negated=isinstance(leaf, Quantified) and leaf.quantifier == "all")


def _value(cond: Condition, plan: Plan, hits: Mapping[str, Sequence[int]], facts: Mapping[str, bool] | None,
           now: int, dropped: Mapping[str, int]) -> bool | None:
    if isinstance(cond, And):
        values = [_value(c, plan, hits, facts, now, dropped) for c in cond.items]
        return False if False in values else (None if None in values else True)
    if isinstance(cond, Or):
        values = [_value(c, plan, hits, facts, now, dropped) for c in cond.items]
        return True if True in values else (None if None in values else False)
    if isinstance(cond, Not):
        value = _value(cond.item, plan, hits, facts, now, dropped)
        return None if value is None else not value
    test = plan.leaves[id(cond)]
    if isinstance(test, str):
        return None if facts is None else facts.get(test, False)
    stamps = hits.get(test.key, ())
    gone = dropped.get(test.key)  # events at or before it may be missing
    if isinstance(cond, Occurrence):
        until = bisect_right(stamps, now)
        if cond.which == "first" and gone is not None:
            return None
        if not until:
            return False if gone is None else None
        moment = stamps[until - 1] if cond.which == "last" else stamps[0]
        boundary = now - cond.days * DAY
        return moment < boundary if cond.op == "before" else moment > boundary
    low, high = _bounds(cond.window, now)  # type: ignore[union-attr]
    start = 0 if low is None else bisect_left(stamps, low)
    count = max(0, bisect_right(stamps, high) - start)
    whole = gone is None or (low is not None and low > gone)
    if isinstance(cond, Quantified):
        held = count > 0 if cond.quantifier == "any" else count == 0
        return held if whole or count > 0 else None
    assert isinstance(cond, Aggregate)
    held = COMPARE[cond.op](count, cond.value)
    if whole:
        return held
    # Only a lower bound of the count is known: decide when more events could not change the answer.
    if cond.op in ("=", "!="):
        return held if count > cond.value else None
    return held if held == COMPARE[cond.op](count + 10**12, cond.value) else None


def _needed(leaf: Condition) -> int | None:
    """How many of the most recent matching timestamps decide this leaf (None: all; `first` needs the oldest)."""
    if isinstance(leaf, Occurrence):
        return None if leaf.which == "first" else 1
    if isinstance(leaf, Aggregate):
        return min(int(leaf.value) + 1, 10_000) if leaf.value >= 0 else 1
    return 1


def _bounds(window: Window | None, now: int) -> tuple[int | None, int]:
    """The instants a window counts events between (inclusive), at or before `now`, as the compiled SQL does."""
    low, high = None, now
    if window is not None and window.last_days is not None:
        low = now - window.last_days * DAY
    elif window is not None and window.start is not None and window.end is not None:
        low = micros(datetime.combine(window.start, time(), timezone.utc))
        end = micros(datetime.combine(window.end, time(), timezone.utc) + timedelta(days=1))
        high = min(high, end - 1)
    return low, high
