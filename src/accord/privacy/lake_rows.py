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
class Search:
    """The condition that finds a person's rows in one table."""

    table: str
    where: str
    params: list[Any]


def searches(lake: Lake, subject: Subject) -> list[Search]:
    """For each table that could hold rows about the person, the condition that finds them (nothing is read yet:
    a table is scanned once, by `rows` or `erase`)."""
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in lake.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE t.table_type = 'BASE TABLE' AND t.table_schema = 'main' ORDER BY 1, c.ordinal_position").fetchall():
        if table not in KEPT and kind in ("VARCHAR", "JSON"):
            columns.setdefault(table, []).append((column, kind))
    exact, folded = sorted(subject.exact | subject.hashed), sorted(subject.folded)
    inside = _innermost([v for v in sorted(subject.exact) if len(v) >= 6])  # shorter ids would match unrelated text
    # Case-folded values (e-mails) are compared with ILIKE, their wildcards escaped: lower() of every value costs
    # twice as much on a large table.
    patterns = [v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in folded]
    found = []
    for table, cols in columns.items():
        tests, params = [], []
        for column, kind in cols:
            name = ident(column) + ("::VARCHAR" if kind == "JSON" else "")
            tests.append(f"{name} IN (SELECT unnest(?::VARCHAR[]))")
            params.append(exact)
            tests += [f"{name} ILIKE ? ESCAPE '\\'" for _ in patterns]
            params += patterns
            if column in FREE_TEXT or kind == "JSON":
                tests += [f"contains({name}, ?)" for _ in inside] + [f"contains(lower({name}), ?)" for _ in folded]
                params += [*inside, *folded]
        found.append(Search(table, " OR ".join(f"({t})" for t in tests), params))
    return found


def rows(lake: Lake, search: Search) -> list[dict[str, Any]]:
    return lake.query(f"SELECT * FROM {ident(search.table)} WHERE {search.where}", search.params)


def erase(lake: Lake, found: list[Search]) -> dict[str, int]:
    """Delete every row the searches find, in one transaction; the rows deleted per table that held any."""
    erased = {}
    with lake.transaction():
        for search in found:
            if deleted := int(lake.scalar(f"DELETE FROM {ident(search.table)} WHERE {search.where}", search.params)):
                erased[search.table] = deleted
    # The write-ahead log no longer holds the rows either; FORCE, since under serve another thread's write
    # (the collector, a delivery) is nearly always under way, and a plain CHECKPOINT refuses then.
    lake.execute("FORCE CHECKPOINT")
    return erased


def _innermost(values: list[str]) -> list[str]:
    """The values holding no other of them: a text holding `0035e…@org.Salesforce` holds `0035e…`, searched for
    anyway."""
    return [v for v in values if not any(other != v and other in v for other in values)]
