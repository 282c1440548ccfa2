"""What every source hands to ingest: chunks of raw rows with their row numbers, and the rows it could not parse."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

ROW_COLUMN = "__accord_row"


@dataclass(frozen=True)
class MalformedRow:
    """A row the reader could not split into fields: kept whole so nothing is lost."""

    row: int
    text: str
    reason: str


@dataclass
class RawChunk:
    """Raw rows (any columns plus `__accord_row`, the 1-based row number) and the malformed rows met so far."""

    table: pa.Table
    malformed: list[MalformedRow] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [c for c in self.table.column_names if c != ROW_COLUMN]


def blanks_named(header: list[str]) -> list[str]:
    """A header with each blank name made `column_<n>` (its place, from 1): a spreadsheet saves a header cell left
    empty so, often several past the last column that has a name."""
    return [name if name.strip() else f"column_{place}" for place, name in enumerate(header, start=1)]
