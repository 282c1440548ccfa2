"""Some people's events read through the audiences' copy (`PERSON_EVENTS`), which keeps them by person: a profile
page's read, where finding a person's events in the store scans every event's key (0.28 s on `large`, 0.49 s for an
account's people)."""

from __future__ import annotations

from typing import Any

from accord.audiences.tables import PERSON_EVENTS
from accord.lake.sql import literal
from accord.lake.store import Lake

KEPT = ("aud_state", "aud_records", PERSON_EVENTS)


def people_events_sql(lake: Lake, people: str, params: dict[str, Any], records: set[tuple[str, str]]) -> str | None:
    """The events (`source_key, event_type, url, "timestamp", person_key`, deleted ones left out) of the people
    `people` selects, whose records are `records` (source key, profile id), or None when the copy is not theirs to
    read: never built, or built from other records of theirs (a record came, left or moved since). Its rows are
    sorted by person within each event type, so a few row groups hold them; the events of batches it has not taken
    yet are read from the store, by batch first."""
    if lake.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                   "AND table_name IN (SELECT unnest(?::VARCHAR[]))", [list(KEPT)]) < len(KEPT):
        return None
    built_from = set(lake.execute(f"SELECT source_key, profile_id FROM aud_records WHERE profile_id IN ({people})",
                                  params).fetchall())
    taken = lake.scalar("SELECT max(batch_id) FROM aud_state")
    if records != built_from or taken is None:
        return None
    kept = f'SELECT event_id AS source_key, event_type, url, "timestamp", person_key FROM {PERSON_EVENTS} ' \
           f"WHERE person_id IN ({people})"
    if not records or not lake.scalar(f"SELECT count(*) FROM (SELECT 1 FROM event WHERE batch_id > {int(taken)} "
                                      "LIMIT 1)"):
        return kept
    keys = ", ".join(literal(key) for key, _ in records)
    # A refresh also takes batches past the one it records (committed while it ran): UNION, not UNION ALL.
    return f"""{kept} UNION
        SELECT source_key, event_type, url, "timestamp", person_key FROM event
        WHERE batch_id > {int(taken)} AND NOT coalesce(is_deleted, FALSE) AND person_key IN ({keys})"""
