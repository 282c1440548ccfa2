"""The rows of an HTML table saved as a workbook: report exports of web applications are often HTML named `.xls`,
which Excel opens as a sheet. Each cell's text as a browser shows it."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from accord.sources.spreadsheets import UnreadableWorkbook

BLOCK_BYTES = 1 << 20
CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
SPACES = re.compile(r"[ \t\n\r\f]+")
"""What a browser collapses to one space (a no-break space is not among them)."""
AS_BROWSERS_READ = {"iso8859-1": "cp1252", "ascii": "cp1252", "utf-16": "utf-8", "utf-16-le": "utf-8",
                    "utf-16-be": "utf-8"}
"""Declared encodings read as browsers read them (the WHATWG Encoding Standard): ISO-8859-1 and ASCII as
Windows-1252, whose curly quotes and dashes exports hold under those names; UTF-16 named in a file whose `<meta>` is
readable as ASCII is not UTF-16."""
WIDEST_SPAN = 1_024
"""Columns one cell may span: a hostile `colspan` does not make a row millions of cells wide."""


def html_rows(path: Path, encoding: str | None = None) -> Iterator[list[str | None]]:
    """Every table row of the file, in order (a report's title table first, then its data): each cell's text with
    runs of spaces made one and line breaks (`<br>`) kept, a cell spanning columns followed by empty ones."""
    used = encoding or _declared(path)
    parser = _Rows()
    decoder = codecs.getincrementaldecoder(used)()
    with path.open("rb") as f:
        while True:
            block = f.read(BLOCK_BYTES)
            try:
                parser.feed(decoder.decode(block, final=not block))
            except UnicodeDecodeError:
                raise UnreadableWorkbook(
                    f"{path}: an HTML table whose text is not {used}: load it with --encoding (cp1252 for a Windows "
                    "export in the Americas and Western Europe)") from None
            yield from parser.done()
            if not block:
                break
    parser.close()
    yield from parser.done()


def _declared(path: Path) -> str:
    """The encoding the file's byte-order mark or `<meta charset>` names, UTF-8 when neither does."""
    with path.open("rb") as f:
        start = f.read(4096)
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    named = CHARSET.search(start)
    if named:
        try:
            found = codecs.lookup(named[1].decode("ascii")).name
        except LookupError:
            raise UnreadableWorkbook(f"{path}: its <meta charset> names {named[1].decode('ascii')!r}, which is no "
                                     "encoding Accord knows; load it with --encoding") from None
        return AS_BROWSERS_READ.get(found, found)
    return "utf-8"


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._rows: list[list[str | None]] = []
        self._row: list[str | None] | None = None
        self._cell: list[list[str]] | None = None  # its lines (split by <br>), each a list of text pieces
        self._span = 1
        self._depth = 0  # of the tables open: a table inside a cell is that cell's text, as a browser shows it

    def done(self) -> list[list[str | None]]:
        """The rows ended since last asked."""
        rows, self._rows = self._rows, []
        return rows

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
        if self._depth > 1 and self._cell is not None:
            self._within_cell(tag)
        elif tag == "tr":
            self._end_row()
            self._row = []
        elif tag in ("td", "th"):
            self._end_cell()
            if self._row is None:
                self._row = []
            self._cell = [[]]
            span = dict(attrs).get("colspan") or "1"
            self._span = min(int(span), WIDEST_SPAN) if span.strip().isdigit() and int(span) > 0 else 1
        elif tag == "br" and self._cell is not None:
            self._cell.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._depth > 0:
            self._depth -= 1
            if self._depth > 0 and self._cell is not None:
                self._next_line()
                return
        if self._depth > 1 and self._cell is not None:
            return
        if tag in ("td", "th"):
            self._end_cell()
        elif tag in ("tr", "table"):
            self._end_row()

    def _within_cell(self, tag: str) -> None:
        """A nested table's rows are lines of the cell holding it, its cells words of a line."""
        assert self._cell is not None
        if tag == "br":
            self._cell.append([])
        elif tag in ("table", "tr"):
            self._next_line()
        elif tag in ("td", "th"):
            self._cell[-1].append(" ")

    def _next_line(self) -> None:
        """A new line of the cell, unless the current one is still empty."""
        assert self._cell is not None
        if "".join(self._cell[-1]).strip():
            self._cell.append([])

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[-1].append(data)

    def _end_cell(self) -> None:
        if self._cell is None or self._row is None:
            return
        # A cell of spaces alone (`&nbsp;`, as exports fill empty ones) is empty.
        text = "\n".join(SPACES.sub(" ", "".join(line)).strip() for line in self._cell).strip()
        self._row.extend([text or None] + [None] * (self._span - 1))
        self._cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row is not None:
            self._rows.append(self._row)
        self._row = None
