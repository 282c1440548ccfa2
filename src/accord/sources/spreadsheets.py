"""Excel workbooks (.xlsx): one sheet's rows as text, each value as Excel shows it, blank rows left out."""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from xml.etree.ElementTree import ParseError

# defusedxml, when installed, makes openpyxl parse the workbook's XML without entity expansion (billion laughs).
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

WORKBOOKS = (".xlsx", ".xlsm")
EXCEL_ROWS = 1_048_576
"""Rows a sheet holds in Excel: none past it is read (a row numbered far beyond would be waited for row by row)."""
WIDEST = 1_024
"""Columns the header is looked for in. openpyxl pads every row to the columns asked for: a 5 KB workbook with one
cell at row 200,000, column XFD kept a reader busy for minutes when every row was read 16,384 columns wide."""
SPILL = 64
"""Values past the header's last column read of a row, to keep with it when it is quarantined."""
TITLE_ROWS = 16
"""Rows of one value passed over above a header (see `_header`)."""
PART_BYTES = {"sheet": 8 << 30, "strings": 1 << 30, "other": 256 << 20}
"""How far a workbook's parts may expand. A workbook is a zip: a 3 MB file can hold gigabytes of XML, and openpyxl
holds the shared strings, styles and relations whole (a sheet is streamed, so it only bounds the time taken)."""
UNREAD = ("xl/media/", "xl/pivotCache/", "xl/embeddings/")
"""Parts a read-only reader never opens: pictures, pivot caches and embedded files, however large."""


class UnreadableWorkbook(ValueError):
    """The file is no workbook Accord reads, or lacks the sheet asked for."""


def sheet_rows(path: Path, sheet: str | None = None) -> Iterator[list[str | None]]:
    """The rows of the sheet named `sheet` (the workbook's first when None) that hold a value, as text; a row's
    blank cells after its last value left out. The first is the header (see `_header`), looked for in the first
    `WIDEST` columns; the others are read `SPILL` columns wider than it."""
    try:
        _check_sizes(path)
        book = load_workbook(path, read_only=True, data_only=True)
        try:
            if sheet is not None and sheet not in book.sheetnames:
                raise no_sheet(path, sheet, book.sheetnames)
            chosen = book[sheet] if sheet is not None else book.worksheets[0]
            # The sheet's XML is parsed as its rows are read: a broken or hostile one fails here, not on opening.
            leading = chosen.iter_rows(max_row=EXCEL_ROWS, max_col=WIDEST, values_only=True)
            found = _header(((number, values) for number, row in enumerate(leading, 1) if (values := _trimmed(row))))
            if found is None:
                return
            number, header = found
            yield header
            for row in chosen.iter_rows(min_row=number + 1, max_row=EXCEL_ROWS, max_col=len(header) + SPILL,
                                        values_only=True):
                if values := _trimmed(row):
                    yield values
        finally:
            book.close()
    except UnreadableWorkbook:
        raise
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError, ParseError) as err:
        said = " ".join(str(err).split())  # openpyxl's messages run over several lines
        raise UnreadableWorkbook(f"{path}: not a readable Excel workbook ({type(err).__name__}: {said})") from None


def no_sheet(path: Path, sheet: str, names: list[str]) -> UnreadableWorkbook:
    return UnreadableWorkbook(f"{path} has no sheet {sheet!r}; its sheets: {', '.join(map(repr, names))}")


def table_rows(rows: Iterator[list[object]]) -> Iterator[list[str | None]]:
    """Of rows read once, those that hold a value, as text: the header (see `_header`) first, then those under it."""
    numbered = ((number, values) for number, row in enumerate(rows, 1) if (values := _trimmed(row)))
    leading = list(itertools.islice(numbered, TITLE_ROWS + 2))
    found = _header(iter(leading))
    if found is None:
        return
    number, header = found
    yield header
    yield from (values for at, values in itertools.chain(leading, numbered) if at > number)


def _header(rows: Iterator[tuple[int, list[str | None]]]) -> tuple[int, list[str | None]] | None:
    """The header among a sheet's first rows holding a value, with its row number: the first, unless it and the
    rows after it hold one value each and the next holds more. Those are titles (a report's name, "Exported by
    ...", a filter), as people and report exports put above a table; at most `TITLE_ROWS` are passed over."""
    def held(row: tuple[int, list[str | None]] | None) -> int:
        return 0 if row is None else sum(value is not None for value in row[1])

    first = current = next(rows, None)
    for _ in range(TITLE_ROWS):
        if held(current) != 1:
            break
        current = next(rows, None)
    return current if held(current) > 1 else first


def _check_sizes(path: Path) -> None:
    """Refuse a workbook whose parts say they expand past `PART_BYTES` (zipfile never expands one further than it
    says)."""
    with zipfile.ZipFile(path) as archive:
        for part in archive.infolist():
            name = part.filename
            if name.startswith(UNREAD):
                continue
            kind = ("sheet" if name.startswith("xl/worksheets/") else
                    "strings" if name == "xl/sharedStrings.xml" else "other")
            if part.file_size > PART_BYTES[kind]:
                raise UnreadableWorkbook(
                    f"{path}: its part {name} expands to {part.file_size:,} bytes, more than Accord reads of a "
                    f"workbook's {'sheet' if kind == 'sheet' else 'part'} ({PART_BYTES[kind]:,}); save the sheet as "
                    "CSV UTF-8")


def _trimmed(row: Sequence[object]) -> list[str | None]:
    """A row's values as text, its blank cells after the last value left out."""
    values = [cell_text(value) for value in row]
    while values and values[-1] is None:
        values.pop()
    return values


def cell_text(value: object) -> str | None:
    """A cell's value as text: whole numbers without Excel's `.0`, dates and times in ISO 8601, booleans as
    true/false; an empty cell is None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)
