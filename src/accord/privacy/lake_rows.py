"""The rows of a sandbox's store that mention a person: every table and column is searched, so a table added
later is covered without this module knowing it. Text columns that hold whole records (quarantine, JSON) are
searched for the values inside them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accord.governance.audit import AUDIT_TABLES
from accord.lake.sql import ident
from accord.lake.store import Lake
from accord.privacy.subject import Subject

KEPT = ("_migrations", "_views", "privacy_requests", *AUDIT_TABLES)
"""Tables never searched: bookkeeping, and the logs of who did what (which hold request ids, not identities)."""
FREE_TEXT = ("raw_record", "properties", "attributes", "reason", "error")
"""Columns holding records or messages as text: searched for the values inside them."""


@dataclass(frozen=True)
class Match:
    table: str
    where: str
    params: list[Any]
    rows: int


def matches(lake: Lake, subject: Subject) -> list[Match]:
    """For each table holding rows about the person, the condition that finds them."""
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in lake.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE t.table_type = 'BASE TABLE' AND t.table_schema = 'main' ORDER BY 1, c.ordinal_position").fetchall():
        if table not in KEPT and kind in ("VARCHAR", "JSON"):
            columns.setdefault(table, []).append((column, kind))
    exact, folded = sorted(subject.exact | subject.hashed), sorted(subject.folded)
    inside = [v for v in sorted(subject.exact) if len(v) >= 6]  # shorter ids would match unrelated text
    found = []
    for table, cols in columns.items():
        tests, params = [], []
        for column, kind in cols:
            name = ident(column) + ("::VARCHAR" if kind == "JSON" else "")
            tests.append(f"{name} IN (SELECT unnest(?::VARCHAR[])) OR lower({name}) IN (SELECT unnest(?::VARCHAR[]))")
            params += [exact, folded]
            if column in FREE_TEXT or kind == "JSON":
                tests += [f"contains({name}, ?)" for _ in inside] + [f"contains(lower({name}), ?)" for _ in folded]
                params += [*inside, *folded]
        where = " OR ".join(f"({t})" for t in tests)
        rows = int(lake.scalar(f"SELECT count(*) FROM {ident(table)} WHERE {where}", params))
        if rows:
            found.append(Match(table, where, params, rows))
    return found


def rows(lake: Lake, match: Match) -> list[dict[str, Any]]:
    return lake.query(f"SELECT * FROM {ident(match.table)} WHERE {match.where}", match.params)


def erase(lake: Lake, found: list[Match]) -> dict[str, int]:
    """Delete every matched row, in one transaction; the rows `matches` found per table."""
    with lake.transaction():
        for match in found:
            lake.execute(f"DELETE FROM {ident(match.table)} WHERE {match.where}", match.params)
    # The write-ahead log no longer holds the rows either; FORCE, since under serve another thread's write
    # (the collector, a delivery) is nearly always under way, and a plain CHECKPOINT refuses then.
    lake.execute("FORCE CHECKPOINT")
    return {match.table: match.rows for match in found}
