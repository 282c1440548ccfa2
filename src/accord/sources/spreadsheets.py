"""Excel workbooks (.xlsx): one sheet's rows as text, each value as Excel shows it, blank rows left out."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
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


class UnreadableWorkbook(ValueError):
    """The file is no workbook Accord reads, or lacks the sheet asked for."""


def sheet_rows(path: Path, sheet: str | None = None) -> Iterator[list[str | None]]:
    """The rows of the sheet named `sheet` (the workbook's first when None) that hold a value, as text; a row's
    blank cells after its last value left out. The first is the header, looked for in the first `WIDEST` columns;
    the others are read `SPILL` columns wider than it."""
    try:
        book = load_workbook(path, read_only=True, data_only=True)
        try:
            if sheet is not None and sheet not in book.sheetnames:
                raise UnreadableWorkbook(f"{path} has no sheet {sheet!r}; its sheets: "
                                         f"{', '.join(map(repr, book.sheetnames))}")
            chosen = book[sheet] if sheet is not None else book.worksheets[0]
            # The sheet's XML is parsed as its rows are read: a broken or hostile one fails here, not on opening.
            leading = chosen.iter_rows(max_row=EXCEL_ROWS, max_col=WIDEST, values_only=True)
            found = next(((number, header) for number, row in enumerate(leading, 1) if (header := _trimmed(row))), None)
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


def _trimmed(row: tuple[object, ...]) -> list[str | None]:
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
