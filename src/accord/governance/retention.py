"""Event retention: experience events older than their type's retention are removed from the store and from the
audience tables (the people who had them are re-decided by the next evaluation), and from the collector log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from accord.audiences.ast import (
    Aggregate,
    Audience,
    Compare,
    InValues,
    Occurrence,
    Quantified,
    walk,
)
from accord.governance.config import RetentionConfig
from accord.lake.sql import literal
from accord.lake.store import Lake
from accord.privacy.collector_log import rewrite_without
from accord.sources.collector import (
    collects,
    event_fields,
    message_time,
    segment_consent,
)
from accord.sources.collector_log import segments

EVENT_MESSAGES = ("track", "page", "screen")
"""The collector's messages that are events (identify, group and alias messages are people and accounts)."""
LOG_SWEEP_EVERY = timedelta(days=1)
"""How often the collector log is swept for messages past their retention (retention counts in days)."""


@dataclass
class RetentionReport:
    events: int
    """Events removed from the store."""
    people: int
    """People whose events were among them: the next evaluation re-decides them."""
    log_messages: int = 0
    """Event messages removed from the collector log."""
    log_bytes: int = 0
    """Bytes of loaded collector log segments removed."""


def expired_sql(config: RetentionConfig, at: datetime) -> str:
    """The condition an event row past its retention at `at` meets (its columns event_type and "timestamp")."""
    by_type = " ".join(f"WHEN {literal(event_type)} THEN {_cutoff(at, days)}"
                       for event_type, days in sorted(config.event_days_by_type.items()))
    otherwise = _cutoff(at, config.event_days) if config.event_days is not None else "NULL"
    return f'"timestamp" < CASE event_type {by_type} ELSE {otherwise} END' if by_type else f'"timestamp" < {otherwise}'


def expire_events(lake: Lake, config: RetentionConfig, at: datetime) -> RetentionReport:
    """Remove every event past its retention at `at`, in one transaction, with its row in the audience tables; the
    people it was about wait in `aud_pending` for the next evaluation."""
    if not config.limited:
        return RetentionReport(0, 0)
    expired = expired_sql(config, at)
    prepared = bool(lake.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'aud_pending'"))
    with lake.transaction():
        people = 0
        if prepared:
            # DuckDB answers an INSERT or a DELETE with the rows it wrote.
            people = int(lake.scalar(f"INSERT INTO aud_pending SELECT DISTINCT 'person', person_id "
                                     f"FROM aud_person_events WHERE {expired}"))
            lake.execute(f"DELETE FROM aud_person_events WHERE {expired}")
        events = int(lake.scalar(f"DELETE FROM event WHERE {expired}"))
    return RetentionReport(events, people)



def expiry(config: RetentionConfig, track_events: dict[str, str]) -> Callable[[dict[str, Any], Any], datetime | None]:
    """When a logged message (given when its line was received) passes its retention; None when it never does: it
    is no event (identify, group, alias), its type is kept for ever, or it states consent (the person's word, not
    only what they did)."""
    names = dict(track_events)

    def expires(m: dict[str, Any], received: Any) -> datetime | None:
        if m.get("type") not in EVENT_MESSAGES or not collects(m) or segment_consent(m):
            return None
        days = config.days(event_fields(m, names)[0])
        when = message_time(m, received)
        return None if days is None or when is None else when + timedelta(days=days)
    return expires


@dataclass
class LogSweep:
    messages: int
    """Event messages removed."""
    read: int
    """Segments read."""
    state: dict[str, Any]
    """What the next sweep needs to know: each segment's size and when its first kept event expires."""


def sweep_log(folder: Path, config: RetentionConfig, at: datetime, track_events: dict[str, str],
              known: dict[str, Any] | None) -> LogSweep:
    """Remove the event messages past their retention at `at` from the collector log's segments. A segment is read
    only when it changed since the sweep that left `known`, or holds an event expiring by now: a busy site's log
    was otherwise read whole every day (at 1,000 events/s, seven days of it are some 490 GB)."""
    fingerprint = hashlib.sha256(json.dumps([config.model_dump(), sorted(track_events.items())],
                                            sort_keys=True).encode()).hexdigest()
    seen = known["segments"] if known and known.get("settings") == fingerprint else {}
    expires = expiry(config, track_events)
    removed, read, after = 0, 0, {}
    for segment in segments(folder):
        name, size = segment.path.name, segment.size()
        last = seen.get(name)
        if last and last[0] == size and (last[1] is None or datetime.fromisoformat(last[1]) >= at):
            after[name] = last
            continue
        soonest: datetime | None = None  # when the segment's first kept event expires

        def gone(m: dict[str, Any], received: Any) -> bool:
            nonlocal soonest
            moment = expires(m, received)
            if moment is not None and moment >= at and (soonest is None or moment < soonest):
                soonest = moment
            return moment is not None and moment < at
        removed += rewrite_without(folder, gone, only=segment)
        read += 1
        # The size before reading: lines written meanwhile make the next sweep read the segment again.
        after[name] = [size, soonest.isoformat() if soonest else None]
    return LogSweep(removed, read, {"settings": fingerprint, "segments": after})


def reads_beyond(audience: Audience, config: RetentionConfig) -> list[str]:
    """Each way the audience looks further back than the events it reads are kept, in words: such a condition
    only ever sees the days kept."""
    notes = []
    for node in walk(audience.where):
        if isinstance(node, (Quantified, Aggregate)) and node.relation == "event" and node.window is not None:
            days = node.window.last_days
        elif isinstance(node, Occurrence):
            days = node.days
        else:
            continue
        named = _event_types(node.where)
        kept = {t: config.days(t) for t in named} if named else {"events": config.event_days,
                                                                  **config.event_days_by_type}
        shorter = sorted(f"{t} {d}" for t, d in kept.items() if d is not None and days is not None and d < days)
        if shorter:
            notes.append(f"reads {days} days back; kept: {', '.join(shorter)} days")
    return notes


def _event_types(where: Any) -> set[str]:
    """The event types a condition names (`event_type = ...`, `event_type in [...]`); none: it reads any type."""
    named: set[str] = set()
    for node in walk(where) if where is not None else ():
        if isinstance(node, Compare) and node.field == "event_type" and node.op == "=":
            named.add(str(node.value))
        elif isinstance(node, InValues) and node.field == "event_type" and not node.negated:
            named.update(str(v) for v in node.values)
    return named


def _cutoff(at: datetime, days: int) -> str:
    return f"{literal((at - timedelta(days=days)).isoformat())}::TIMESTAMPTZ"
