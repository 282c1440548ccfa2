"""Excel 97-2003 workbooks (.xls, the binary format) through xlrd: one sheet's rows as the values its cells hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import xlrd
from xlrd.xldate import XLDateError, xldate_as_datetime

from accord.sources.spreadsheets import UnreadableWorkbook, no_sheet

BIFF = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""How a compound document starts: an .xls workbook is one."""


def biff_rows(path: Path, sheet: str | None = None, encoding: str | None = None) -> Iterator[list[object]]:
    """The rows of the sheet named `sheet` (the workbook's first when None), each cell as a number, text, a date or
    time, a boolean, an error's text (`#N/A`) or None. `encoding` is for workbooks older than Excel 97, which do not
    say theirs."""
    try:
        # Ragged rows: a cell far past the table (a sheet is 256 columns wide) does not pad every row to it.
        book = xlrd.open_workbook(str(path), on_demand=True, ragged_rows=True, encoding_override=encoding)
    except Exception as err:  # noqa: BLE001 - xlrd fails on a damaged file with whatever its parser meets
        raise _unreadable(path, err) from None
    try:
        names = book.sheet_names()
        if sheet is not None and sheet not in names:
            raise no_sheet(path, sheet, names)
        try:
            chosen = book.sheet_by_name(sheet) if sheet is not None else book.sheet_by_index(0)
            for number in range(chosen.nrows):
                yield [_value(kind, value, book.datemode)
                       for kind, value in zip(chosen.row_types(number), chosen.row_values(number))]
        except Exception as err:  # noqa: BLE001 - as above: a sheet is parsed when first read
            raise _unreadable(path, err) from None
    finally:
        book.release_resources()


def _value(kind: int, value: object, datemode: int) -> object:
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(int(value), "#N/A")  # type: ignore[call-overload]
    if kind == xlrd.XL_CELL_DATE:
        return _when(float(value), datemode)  # type: ignore[arg-type]
    return value


def _when(serial: float, datemode: int) -> datetime | date | time | float:
    """A date cell's serial number as Excel shows it: a time of day below 1, a date and time above; a serial no
    date can be (negative, or in the 1900 system's missing 29 February) stays a number."""
    try:
        moment = xldate_as_datetime(serial, datemode)
    except (XLDateError, ValueError, OverflowError):
        return serial
    return moment.time() if 0 <= serial < 1 else moment


def _unreadable(path: Path, err: Exception) -> UnreadableWorkbook:
    said = " ".join(str(err).split()) or type(err).__name__
    return UnreadableWorkbook(f"{path}: not a readable Excel 97-2003 workbook ({said}); save it as .xlsx or as CSV "
                              "UTF-8")
