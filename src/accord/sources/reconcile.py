"""Which of a source's records Accord holds; and deletions a source's change feed no longer shows, found by comparing
the ids it holds with those, guarded against a comparison that sees too little (a lost permission is not a mass
deletion)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone

from accord.connectors.errors import ConnectorError
from accord.ingest.records import ingest_records
from accord.lake.sql import literal
from accord.lake.store import Lake, current_where
from accord.sources.api import records_digest


class ReconcileRefused(ConnectorError):
    """A comparison would delete more of a kind of record than the source allows."""


@dataclass(frozen=True)
class Holder:
    """Whose records are compared: one source instance's records of one entity."""

    source_type: str
    instance: str
    source_name: str


def held_ids(lake: Lake, entity: str, ids: list[str], holder: Holder, by: str = "source_id") -> set[str]:
    """The source ids of the holder's current records of `entity` whose `by` (SQL over a record) is among `ids`:
    filtered before the versions are ranked, as a page asks about a few thousand records of millions."""
    if not ids:
        return set()
    keys = f"SELECT * FROM (VALUES {', '.join(f'({literal(i)})' for i in ids)})"
    rows = lake.execute(f"SELECT source_id FROM {current_where(entity, by, keys)} "
                        "WHERE source_type = ? AND source_instance_id = ?",
                        [holder.source_type, holder.instance]).fetchall()
    return {str(r[0]) for r in rows}


def missing(held: Collection[str], present: set[str], max_share: float, what: str) -> list[str]:
    """The records among `held` (source ids) that the source no longer lists in `present`; refused when they are
    more than `max_share` of them."""
    gone = sorted(set(held) - present)
    if gone and len(gone) > max_share * len(held):
        raise ReconcileRefused(
            f"{what}: {len(gone):,} of the {len(held):,} records Accord holds are no longer in the source; "
            f"deleting them is more than reconcile_max_share ({max_share:.0%}) allows. Check that Accord's user can "
            "still read them all; if they really were deleted, raise reconcile_max_share for one sync")
    return gone


def delete_missing(lake: Lake, entity: str, holder: Holder, held: Collection[str], present: set[str],
                   max_share: float, what: str) -> int:
    """Soft-delete the records `missing` finds; returns how many."""
    gone = missing(held, present, max_share, what)
    if gone:
        at = datetime.now(timezone.utc).isoformat()
        rows = [{"source_id": i, "is_deleted": True, "source_updated_at": at} for i in gone]
        ingest_records(lake, entity, rows, source_type=holder.source_type, source_instance_id=holder.instance,
                       source_name=holder.source_name, fingerprint=records_digest(rows))
    return len(gone)
