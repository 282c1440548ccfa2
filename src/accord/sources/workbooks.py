"""A workbook's table, whatever a user saved it as: an Excel workbook (.xlsx), an Excel 97-2003 one (.xls), or the
HTML table a web application exports under an Excel name: each read by its own reader."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from accord.sources.footers import without_report_footer
from accord.sources.html_tables import html_rows
from accord.sources.spreadsheets import sheet_rows, table_rows
from accord.sources.xls import biff_rows


def workbook_rows(path: Path, kind: str, sheet: str | None = None,
                  encoding: str | None = None) -> Iterator[list[str | None]]:
    """The header of the table on the sheet named `sheet` (the first when None), then the rows under it that hold
    a value, as text, a report's footer left out; `kind` is what the file holds (`xlsx`, `xls` or `html`, as
    `FileReader` tells it by its first bytes)."""
    if kind == "html":
        return without_report_footer(table_rows(html_rows(path, encoding)))
    if kind == "xls":
        return without_report_footer(table_rows(biff_rows(path, sheet, encoding)))
    return without_report_footer(sheet_rows(path, sheet))
