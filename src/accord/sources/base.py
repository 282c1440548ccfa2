"""What every source hands to ingest: chunks of raw rows with their row numbers, and the rows it could not parse."""

from __future__ import annotations

import re
from collections import Counter
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


def header_names(cells: list[str]) -> list[str]:
    """The names a header row gives its columns: a blank cell is `column_<n>` (its place, from 1: a spreadsheet
    saves the empty cells past the last named column), and a name written more than once, in any case, is
    `<name> (column <n>)` at each place (a report showing two fields under one label; SQL names ignore case): a
    mapping must say which one it reads."""
    counts = Counter(cell.casefold() for cell in cells)
    return [f"column_{place}" if not cell.strip() else f"{cell}{_place(place)}" if counts[cell.casefold()] > 1
            else cell for place, cell in enumerate(cells, start=1)]


def header_cell(name: str, place: int) -> str:
    """What the header cell at `place` held, for the name `header_names` gave its column."""
    if name == f"column_{place}":
        return ""
    return name.removesuffix(_place(place))


def twin_of(name: str) -> str | None:
    """The name a header wrote more than once, when `name` is one of the columns `header_names` made of it."""
    found = _TWIN.fullmatch(name)
    return found.group(1) if found else None


def _place(place: int) -> str:
    return f" (column {place})"


_TWIN = re.compile(r"(.+) \(column \d+\)", re.DOTALL)
