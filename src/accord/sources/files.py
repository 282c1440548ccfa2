"""The file source: CSV, JSON lines, JSON arrays, Parquet and Excel files (plain or compressed) read in chunks, with
row numbers and malformed rows kept."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import shutil
import sys
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accord import fastjson
from accord.ingest.limits import escaped, json_problem
from accord.ingest.loader import IngestResult, ingest_chunks
from accord.ingest.mapping import Mapping
from accord.lake.store import Lake
from accord.model.schema import STANDARD, Schema
from accord.readable import UnreadableYaml, yaml_data
from accord.scratch import new_scratch
from accord.sources.base import ROW_COLUMN, MalformedRow, RawChunk, header_names
from accord.sources.compressed import (
    OPENERS,
    ZIP,
    CompressedFileError,
    compressed,
    decompressed,
    plain_name,
    sha256_of,
)
from accord.sources.footers import Footer, report_footer
from accord.sources.joined import REPEATED_HEADER, header_rows, is_header
from accord.sources.json_array import (
    SHOWN_CHARS,
    JsonArrayError,
    elements,
    starts_array,
)
from accord.sources.mappings import resolve_mapping
from accord.sources.quotes import LINE_BREAKS, holds_line_break, runaway_quotes
from accord.sources.spreadsheets import WORKBOOKS, UnreadableWorkbook
from accord.sources.transcode import UTF8, Transcoded, checked_encoding
from accord.sources.workbooks import workbook_rows
from accord.sources.xls import BIFF

FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".tab": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "json", ".parquet": "parquet", **{suffix: "xlsx" for suffix in WORKBOOKS}, ".xls": "xls"}
WORKBOOK_FORMATS = ("xlsx", "xls", "html")
"""Formats read as a sheet of cells, in this process (an `.xls` file may hold an HTML table, as a web application's
export does: "html")."""
CSV_BLOCK_BYTES = 32 << 20
ROWS_PER_CHUNK = 200_000
BOM = b"\xef\xbb\xbf"
NUL = "\x00"


class FileFormatError(ValueError):
    """The file cannot be read at all (unknown format, no header, unreadable)."""


NOT_UTF8_HINT = ("a spreadsheet's 'CSV (Comma delimited)' is saved in the computer's own encoding (Windows-1252 in the "
                 "Americas and Western Europe): load it with --encoding cp1252, or save it as CSV UTF-8")


DELIMITERS = (",", ";", "\t", "|")
"""What separates a CSV file's fields: a comma, or what a spreadsheet writes where the comma is the decimal mark
(`;`), a tab (`.txt` text exports) or a bar."""


MAX_COLUMNS = 16_384
"""Columns a file may have: as many as an Excel sheet (a Salesforce object holds at most 800 fields). A 2 MB CSV
of 100,000 columns kept ingest busy for three and a half minutes."""
SEPARATOR_LINE = re.compile(rb"(?:\xef\xbb\xbf)?sep=([^\r\n])(?:\r\n|\n|\r)")
"""Excel's first line naming a CSV file's delimiter (`sep=;`), in any encoding that writes ASCII as ASCII."""
SNIFFED_ROWS = 5
SNIFFED_BYTES = 1 << 16


def sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the first rows of `sample` (the file's start, whole lines) into the same number of
    fields, the most of them; a comma on a tie. Agreeing rows tell apart a semicolon file whose header says
    `Revenue (EUR, annual)` and a comma file with a column named `a;b`."""
    def score(delimiter: str) -> tuple[bool, int, bool]:
        lines = io.StringIO(sample, newline="")  # a line may end in CR alone, as Excel for Mac's "CSV (Macintosh)"
        rows = [len(r) for r in itertools.islice(csv.reader(lines, delimiter=delimiter), SNIFFED_ROWS)]
        return len(set(rows)) == 1 and rows[0] > 1, rows[0] if rows else 0, delimiter == ","

    return max(DELIMITERS, key=score)


def detect_format(path: Path) -> str:
    """The format a file's suffix names (a compressed file's: the one before `.gz`, `.bz2` or `.xz`; a zip's: its
    file's)."""
    try:
        suffix = plain_name(path).suffix.lower()
    except CompressedFileError as err:
        raise FileFormatError(str(err)) from None
    try:
        return FORMATS[suffix]
    except KeyError:
        raise FileFormatError(f"{path}: unknown file type {suffix!r}; use one of {', '.join(FORMATS)} (or one of "
                              f"them compressed: {', '.join(OPENERS)}, {ZIP} of one file)") from None


def _utf16(path: Path) -> bool:
    """Does the file start with a UTF-16 byte-order mark?"""
    with path.open("rb") as f:
        return f.read(2) in (b"\xff\xfe", b"\xfe\xff")


def fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes: the same file ingested again is recognised."""
    with path.open("rb") as f:
        return sha256_of(f)


class FileReader:
    """Reads one file as RawChunks; `strict_columns` says whether every chunk has the file's full column set."""

    def __init__(self, path: Path, encoding: str | None = None, sheet: str | None = None,
                 lines_before: int = 0) -> None:
        self.lines_before = lines_before
        """Lines of the file the user named above this one's text (a copy of its records starts below them)."""
        self.named = path
        """The file as the user named it (a compressed one is read from its decompressed copy, `path`)."""
        self.path = path
        if path.exists() and not path.is_file():  # a pipe would be waited on for ever, a device read for ever
            raise FileFormatError(f"{path} is not a file (a device, a pipe or a socket): name a file to read")
        self.format = detect_format(path)
        if compressed(path) and path.is_file():
            folder = new_scratch("decompressed")
            removed = weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)  # with the reader
            try:
                self.path = decompressed(path, folder)
            except CompressedFileError as err:
                removed()
                raise FileFormatError(str(err)) from None
        if self.format == "json" and path.is_file():
            self.format = self._json_kind()
        if self.format in ("xlsx", "xls") and path.is_file():
            self.format = self._workbook_kind()
        self.strict_columns = self.format not in ("jsonl", "json")
        named = checked_encoding(encoding) if encoding else "utf-8"
        self.encoding = "utf-8-sig" if named in UTF8 else named
        """The CSV file's text encoding (UTF-8 unless named): a spreadsheet may save another."""
        self.sheet = sheet
        """The workbook's sheet to read (its first unless named)."""
        if self.format in ("jsonl", "json", "parquet", "xlsx") and self.encoding != "utf-8-sig":
            raise FileFormatError(f"{path}: JSON lines are UTF-8 (RFC 8259), and Parquet and Excel hold typed "
                                  "values: --encoding is for CSV files (and .xls ones, which may be text)")
        if self.format == "html" and sheet is not None:
            raise FileFormatError(f"{path} is an HTML table saved as .xls, which has no sheets: leave out --sheet")
        if self.format not in WORKBOOK_FORMATS and sheet is not None:
            raise FileFormatError(f"{path}: only an Excel workbook has sheets: --sheet is for .xlsx and .xls files")
        if self.format != "parquet" and self.encoding == "utf-8-sig" and _utf16(self.path):
            raise FileFormatError(f"{path} is UTF-16 text (as a spreadsheet's 'Unicode Text' saves it): load it with "
                                  "--encoding utf-16, or save it as UTF-8 (CSV UTF-8)")

    def _json_kind(self) -> str:
        """A `.json` file holds a JSON array of objects (`json`) or, as many tools write it, JSON lines."""
        begins = starts_array(self.path)
        if begins is None:
            raise FileFormatError(f"{self.named}: empty file")
        if begins:
            return "json"
        with self.path.open("rb") as f:
            try:
                json_object(f.readline().removeprefix(BOM).rstrip(b"\r\n"))
            except ValueError:
                raise FileFormatError(f"{self.named}: one JSON object over several lines; Accord reads a JSON array of "
                                      "objects, or JSON lines (an object a line)") from None
        return "jsonl"

    def _workbook_kind(self) -> str:
        """What a workbook's first bytes say it holds, as Excel tells it: Excel 97-2003's (`xls`), an .xlsx zip
        (`xlsx`, whatever its suffix), or, in an `.xls` file, an HTML table (`html`) or text (`csv`), as web
        applications also save under that name."""
        with self.path.open("rb") as f:
            start = f.read(512)
        if start.startswith(BIFF):
            return "xls"
        if start.startswith(b"PK\x03\x04") or self.format == "xlsx":
            return "xlsx"  # what is no zip is refused by the zip's reader, naming what it found
        text = start.decode("utf-16", "replace") if start[:2] in (b"\xff\xfe", b"\xfe\xff") else start.decode("latin-1")
        return "html" if text.lstrip("\ufeff\xef\xbb\xbf \t\r\n").startswith("<") else "csv"

    @cached_property
    def separator_line(self) -> tuple[int, str] | None:
        """The line naming the delimiter that Excel honours above a CSV file's header (`sep=;`): how many bytes it
        takes and the delimiter it names; None when the file has none."""
        if self.format != "csv":
            return None
        with self.path.open("rb") as f:
            found = SEPARATOR_LINE.match(f.read(16))
        return (found.end(), found[1].decode("latin-1")) if found else None

    @cached_property
    def delimiter(self) -> str:
        """The CSV file's delimiter: as its separator line names it, or as its first rows show it."""
        if self.separator_line:
            return self.separator_line[1]
        with self.path.open(newline="", encoding=self.encoding, errors="surrogateescape") as f:
            start = f.read(SNIFFED_BYTES)
        whole_lines = start[:max(start.rfind("\n"), start.rfind("\r")) + 1]
        return sniff_delimiter(start if len(start) < SNIFFED_BYTES else whole_lines or start)

    @cached_property
    def footer(self) -> Footer | None:
        """A report export's footer, which no reader of this file reads."""
        return report_footer(self.path) if self.format == "csv" else None

    @property
    def footer_lines(self) -> int:
        """The lines of its footer left unread."""
        return self.footer.lines if self.footer else 0

    @contextmanager
    def _records(self) -> Iterator[BinaryIO]:
        """The CSV file's bytes up to its footer, if it has one, as UTF-8."""
        skipped = self.separator_line[0] if self.separator_line else 0
        with pa.memory_map(str(self.path)) as whole:
            whole.seek(skipped)
            data = pa.BufferReader(whole.read_buffer(self.footer.start - skipped)) if self.footer else whole
            yield data if self.encoding == "utf-8-sig" else io.BufferedReader(Transcoded(data, self.encoding))

    def fingerprint(self) -> str:
        """The file's fingerprint, with its encoding when not UTF-8: read in another, it is another input (loading
        it again with the right --encoding is no repeat)."""
        return (fingerprint(self.path) + ("" if self.encoding == "utf-8-sig" else f":{self.encoding}")
                + ("" if self.sheet is None else f":sheet={self.sheet}"))

    def utf8_copy(self, target: Path) -> Path:
        """The file's records (a CSV file's footer left out) written to `target` as UTF-8, for a reader that takes
        only UTF-8 and reads where the executors reach (Spark's)."""
        with self._records() as data, target.open("wb") as out:
            while block := data.read(1 << 20):
                out.write(block)
        return target

    def chunks(self) -> Iterator[RawChunk]:
        if self.format == "csv":
            return self._csv()
        if self.format == "parquet":
            return self._parquet()
        if self.format in WORKBOOK_FORMATS:
            return self._sheet()
        if self.format == "json":
            return self._json_array()
        return self._jsonl()

    def _csv(self) -> Iterator[RawChunk]:
        header = self.csv_header()
        malformed: list[MalformedRow] = []

        def on_invalid(row: Any) -> str:
            # Arrow counts records from the header as 1, so a data record's number is Arrow's minus one.
            number = (row.number or 0) - 1
            reason = f"malformed_row: expected {row.expected_columns} fields, found {row.actual_columns}"
            malformed.append(MalformedRow(number, row.text, reason))
            return "skip"

        numberer = _RowNumberer()
        sent: set[int] = set()
        try:
            with self._records() as records:
                with _silenced(on_invalid):
                    reader = pacsv.open_csv(
                        records,
                        # The header's names as `csv_header` made them usable (a blank one named by its place).
                        read_options=pacsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES, encoding="utf8",
                                                       column_names=header, skip_rows_after_names=1),
                        parse_options=pacsv.ParseOptions(delimiter=self.delimiter, invalid_row_handler=on_invalid,
                                                         newlines_in_values=True),
                        # Read as bytes, so that one row's invalid UTF-8 is that row's problem, not the whole file's.
                        convert_options=pacsv.ConvertOptions(
                            column_types={name: pa.binary() for name in header},
                            strings_can_be_null=False,
                            quoted_strings_can_be_null=False,
                        ),
                    )
                for batch in _batches(reader, on_invalid):
                    # Taken out before the chunk is handed on: while it loads, Arrow reading ahead may report the
                    # next block's malformed rows, which clearing the list afterwards lost.
                    reported = malformed[:]
                    del malformed[:len(reported)]
                    bad_rows = [m.row for m in reported]
                    rows = numberer.number(batch.num_rows, bad_rows)
                    table = pa.Table.from_batches([batch]).append_column(ROW_COLUMN, pa.array(rows, pa.int64()))
                    reported = self._runaways_named(reported)
                    table, runaway = self._without_runaways(table, header)
                    table, repeated = _without_repeated_headers(table, header)
                    table, undecodable = _as_text(table)
                    sent.update(bad_rows)
                    yield RawChunk(table, reported + runaway + repeated + undecodable)
        except pa.ArrowInvalid:
            # Arrow cannot hand a malformed row that is also not UTF-8 to on_invalid; the rest is read slowly.
            yield from self._csv_rest(header, lambda n: n < numberer.next or n in sent)
            return
        if malformed:
            yield RawChunk(_empty(header), malformed[:])

    def _without_runaways(self, table: pa.Table, header: list[str]) -> tuple[pa.Table, list[MalformedRow]]:
        """`table` without the records whose quoted value ran on over the lines after it, and those records as
        quarantine rows (the file is read strictly for them once, when a value first holds a line break)."""
        names = [n for n in table.column_names if n != ROW_COLUMN]
        if not holds_line_break(table, names):
            return table, []
        runaways = self.runaways
        numbers = table[ROW_COLUMN].to_numpy()
        bad = np.isin(numbers, np.fromiter(runaways, np.int64, len(runaways)))
        if not bad.any():
            return table, []
        found = [MalformedRow(int(numbers[i]), shown([table[n][int(i)].as_py() for n in names]),
                              runaways[int(numbers[i])]) for i in np.flatnonzero(bad)]
        return table.filter(pa.array(~bad)), found

    def _runaways_named(self, malformed: list[MalformedRow]) -> list[MalformedRow]:
        """Malformed rows whose wrong field count comes from a quote that ran away, with that reason instead."""
        if not any(brk.decode() in m.text for m in malformed for brk in LINE_BREAKS):
            return malformed
        return [MalformedRow(m.row, m.text, self.runaways[m.row]) if m.row in self.runaways else m for m in malformed]

    @cached_property
    def runaways(self) -> dict[int, str]:
        """The file's records whose quote ran away, by number, with the reason each is quarantined."""
        with self._records() as records:
            return runaway_quotes(records, self.delimiter, self.lines_before_records)

    @property
    def lines_before_records(self) -> int:
        """The lines of the file the user named above the header: a separator line, and those above this copy."""
        return self.lines_before + (1 if self.separator_line else 0)

    def _csv_rest(self, header: list[str], sent: Callable[[int], bool]) -> Iterator[RawChunk]:
        """The records not yet sent, read by Python's csv module and numbered as Arrow numbers them."""
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))

        def judged() -> Iterator[tuple[int, list[str]] | MalformedRow]:
            with self._records() as data:
                f = io.TextIOWrapper(data, encoding="utf-8-sig", errors="surrogateescape", newline="")
                records = (record for record in csv.reader(f, delimiter=self.delimiter) if record)
                next(records, None)
                for number, record in enumerate(records, start=1):
                    if sent(number):
                        continue
                    raw = [value.encode("utf-8", "surrogateescape") for value in record]
                    not_utf8 = [name for name, value in zip(header, raw) if not _utf8(value)]
                    if number in self.runaways and any(brk in value for value in raw for brk in LINE_BREAKS):
                        yield MalformedRow(number, shown(raw), self.runaways[number])
                    elif is_header(record, header):
                        yield MalformedRow(number, shown(raw), REPEATED_HEADER)
                    elif len(record) != len(header):
                        yield MalformedRow(number, shown(raw), f"malformed_row: expected {len(header)} fields, "
                                                               f"found {len(record)}")
                    elif not_utf8:
                        yield MalformedRow(number, shown(raw), undecodable(not_utf8))
                    else:
                        yield number, record

        return _text_chunks(header, judged())

    def csv_header(self) -> list[str]:
        """The header row, which must be UTF-8 and name each column once."""
        try:
            # Undecodable bytes are escaped here so that they count against the header only if they are in it.
            with self.path.open(newline="", encoding=self.encoding, errors="surrogateescape") as f:
                if self.separator_line:
                    f.readline()
                header = next(csv.reader(f, delimiter=self.delimiter), None)
        except csv.Error as err:
            raise FileFormatError(f"{self.named}: the header row cannot be read: {err}") from None
        if not header:
            raise FileFormatError(f"{self.named}: empty file or no header row")
        for name in header:
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                text = shown([name.encode("utf-8", "surrogateescape")])
                raise FileFormatError(f'{self.named}: the header row is not {_named(self.encoding)} (column "{text}")'
                                      + ("; " + NOT_UTF8_HINT if self.encoding == "utf-8-sig" else "")) from None
        return self.usable_names(header_names(header))

    def usable_names(self, names: list[str]) -> list[str]:
        """Column names, at most `MAX_COLUMNS`, each given once (in any case) and none holding NUL (SQL engines end
        a name there)."""
        if len(names) > MAX_COLUMNS:
            raise FileFormatError(f"{self.named}: the header names {len(names):,} columns, more than Accord reads "
                                  f"({MAX_COLUMNS:,}, as many as an Excel sheet holds)")
        self.one_name_each(names)
        if nul := [name for name in names if NUL in name]:
            raise FileFormatError(f'{self.named}: the column name "{_nul_shown(nul[0])}" holds a NUL character; '
                                  "rename it")
        return names

    def one_name_each(self, names: list[str]) -> list[str]:
        """`names`, refused when one is given twice or two differ only in case (SQL reads them as one name, so
        neither could be read)."""
        twice = sorted(name for name, n in Counter(names).items() if n > 1)
        if twice:
            raise FileFormatError(f"{self.named}: the header names {', '.join(map(repr, twice))} more than once; "
                                  "give each column its own name")
        by_case: dict[str, list[str]] = {}
        for name in names:
            by_case.setdefault(name.casefold(), []).append(name)
        if alike := [group for group in by_case.values() if len(group) > 1]:
            said = "; ".join(" and ".join(map(repr, group)) for group in alike)
            raise FileFormatError(f"{self.named}: the column names {said} differ only in case, which SQL reads as "
                                  "one name; rename one")
        return names

    def parquet_file(self) -> pq.ParquetFile:
        """The Parquet file, once it is known to be one and to name each column once."""
        try:
            pf = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as err:
            raise FileFormatError(f"{self.named}: not a readable Parquet file ({err})") from None
        self.usable_names(pf.schema_arrow.names)
        return pf

    def _parquet(self) -> Iterator[RawChunk]:
        pf = self.parquet_file()
        start = 1
        for batch in pf.iter_batches(batch_size=ROWS_PER_CHUNK):
            rows = np.arange(start, start + batch.num_rows, dtype=np.int64)
            start += batch.num_rows
            yield RawChunk(pa.Table.from_batches([batch]).append_column(ROW_COLUMN, pa.array(rows)))

    def _sheet(self) -> Iterator[RawChunk]:
        """The sheet's first row that holds a value is its header; a row with values past the header's last column
        is malformed."""
        try:
            rows = workbook_rows(self.path, self.format, self.sheet,
                                 None if self.encoding == "utf-8-sig" else self.encoding)
            header = next(rows, None)
            if header is None and self.format == "html":
                raise FileFormatError(f"{self.named}: an HTML page saved as .xls that holds no table (an export whose "
                                      "session had expired saves the login page): export it again")
            if header is None:
                raise FileFormatError(f"{self.named}: the sheet is empty (no header row)")
            names = self.usable_names(header_names([name or "" for name in header]))

            def judged() -> Iterator[tuple[int, list[str | None]] | MalformedRow]:
                for number, row in enumerate(rows, start=1):
                    if len(row) > len(names):
                        yield MalformedRow(number, shown([(v or "").encode() for v in row]),
                                           f"malformed_row: expected {len(names)} fields, found {len(row)}")
                    else:
                        yield number, row + [None] * (len(names) - len(row))

            yield from _text_chunks(names, judged())
        except UnreadableWorkbook as err:
            raise FileFormatError(str(err)) from None

    def _json_array(self) -> Iterator[RawChunk]:
        try:
            yield from map(self._named_once, _element_chunks(elements(self.path)))
        except JsonArrayError as err:
            raise FileFormatError(f"{self.named}: {err}") from None

    def _jsonl(self) -> Iterator[RawChunk]:
        records: list[dict[str, str | None]] = []
        rows: list[int] = []
        malformed: list[MalformedRow] = []
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if number == 1 and raw.startswith(BOM):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                try:
                    record = jsonl_record(raw)
                except ValueError as err:
                    malformed.append(MalformedRow(number, line_text(raw), f"malformed_row: {err}"))
                    continue
                records.append(record)
                rows.append(number)
                if len(records) >= ROWS_PER_CHUNK:
                    yield self._named_once(_jsonl_chunk(records, rows, malformed))
                    records, rows, malformed = [], [], []
        if records or malformed:
            yield self._named_once(_jsonl_chunk(records, rows, malformed))

    def _named_once(self, chunk: RawChunk) -> RawChunk:
        self.one_name_each(chunk.columns)
        return chunk


def _element_chunks(outcomes: Iterator[tuple[int, dict[str, Any]] | MalformedRow]) -> Iterator[RawChunk]:
    """A JSON array's elements as records in chunks of `ROWS_PER_CHUNK`, those that cannot be kept quarantined."""
    records: list[dict[str, str | None]] = []
    rows: list[int] = []
    malformed: list[MalformedRow] = []
    for outcome in outcomes:
        if isinstance(outcome, MalformedRow):
            malformed.append(outcome)
        else:
            row, obj = outcome
            try:
                records.append(object_record(obj, "element"))
                rows.append(row)
            except ValueError as err:
                malformed.append(MalformedRow(row, escaped(json.dumps(obj)[:SHOWN_CHARS]), f"malformed_row: {err}"))
        if len(records) + len(malformed) >= ROWS_PER_CHUNK:
            yield _jsonl_chunk(records, rows, malformed)
            records, rows, malformed = [], [], []
    if records or malformed:
        yield _jsonl_chunk(records, rows, malformed)


def jsonl_record(raw: bytes) -> dict[str, str | None]:
    """One JSONL line as a record of text columns (nested objects as dotted names); ValueError saying why not (where,
    counted in the line without its line break)."""
    return object_record(json_object(raw.rstrip(b"\r\n")), "line")


def object_record(obj: dict[str, Any], what: str) -> dict[str, str | None]:
    """A JSON object as a record of text columns (nested objects as dotted names); ValueError when it holds more
    fields than Accord reads."""
    record = _flatten(obj)
    if len(record) > MAX_COLUMNS:
        raise ValueError(f"the {what} holds {len(record):,} fields, more than Accord reads ({MAX_COLUMNS:,})")
    return record


def line_text(raw: bytes) -> str:
    """A line that did not load, as quarantine keeps it: bytes that are not UTF-8 as `\\xNN` escapes."""
    return escaped(raw.decode("utf-8", "backslashreplace").rstrip("\r\n"))


def json_object(raw: bytes) -> dict[str, Any]:
    """One JSON line as an object Accord can keep; ValueError saying why not."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"invalid UTF-8 ({err.reason} at byte {err.start})") from None
    obj = fastjson.loads(raw)  # bytes: the long-integer check is faster on them
    if not isinstance(obj, dict):
        raise ValueError("a line must hold a JSON object")
    if problem := json_problem(obj):
        raise ValueError(problem)
    return obj


def _as_text(table: pa.Table) -> tuple[pa.Table, list[MalformedRow]]:
    """Byte columns as text; rows holding bytes that are not UTF-8 are taken out, as quarantine rows."""
    bad = np.zeros(table.num_rows, dtype=bool)
    names = [n for n in table.column_names if n != ROW_COLUMN]
    texts = {}
    for name in names:
        try:
            texts[name] = table[name].cast(pa.string())
        except pa.ArrowInvalid:
            bad |= np.array([v is not None and not _utf8(v) for v in table[name].to_pylist()], dtype=bool)
    if not bad.any():
        return pa.table({**texts, ROW_COLUMN: table[ROW_COLUMN]}), []
    rows = table[ROW_COLUMN].to_numpy()
    malformed = []
    for i in np.flatnonzero(bad):
        values = [table[n][int(i)].as_py() for n in names]
        columns = [n for n, v in zip(names, values) if v is not None and not _utf8(v)]
        malformed.append(MalformedRow(int(rows[i]), shown(values), undecodable(columns)))
    return _as_text(table.filter(pa.array(~bad)))[0], malformed


def _without_repeated_headers(table: pa.Table, header: list[str]) -> tuple[pa.Table, list[MalformedRow]]:
    """`table` without the rows that are the header line again (files joined), and those as quarantine rows."""
    again = header_rows(table, header)
    if not again.any():
        return table, []
    numbers = table[ROW_COLUMN].to_numpy()
    found = [MalformedRow(int(numbers[i]), shown([table[n][int(i)].as_py() for n in header]), REPEATED_HEADER)
             for i in np.flatnonzero(again)]
    return table.filter(pa.array(~again)), found


def shown(values: list[bytes | None]) -> str:
    """A row's bytes as one line of text a person can read, bytes that are not UTF-8 escaped."""
    return ",".join(escaped((v or b"").decode("utf-8", "backslashreplace")) for v in values)


def undecodable(columns: list[str]) -> str:
    return f"invalid_utf8: {', '.join(columns)} holds bytes that are not UTF-8"


def _text_chunks(header: list[str], judged: Iterator[tuple[int, Any] | MalformedRow]) -> Iterator[RawChunk]:
    """Rows of text numbered, and malformed rows, gathered into chunks of `ROWS_PER_CHUNK` (always one, maybe
    empty)."""
    rows: list[int] = []
    values: list[list[str | None]] = []
    malformed: list[MalformedRow] = []
    for outcome in judged:
        if isinstance(outcome, MalformedRow):
            malformed.append(outcome)
        else:
            rows.append(outcome[0])
            values.append(outcome[1])
        if len(rows) + len(malformed) >= ROWS_PER_CHUNK:
            yield _text_chunk(header, values, rows, malformed)
            rows, values, malformed = [], [], []
    yield _text_chunk(header, values, rows, malformed)


def _text_chunk(header: list[str], values: list[list[str | None]], rows: list[int],
                malformed: list[MalformedRow]) -> RawChunk:
    columns = {name: pa.array([v[i] for v in values], pa.string()) for i, name in enumerate(header)}
    return RawChunk(pa.table({**columns, ROW_COLUMN: pa.array(rows, pa.int64())}), malformed)


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _RowNumberer:
    """Gives good rows their 1-based record number, skipping the numbers taken by malformed rows.

    Arrow may report a malformed row while reading ahead, so its number is kept until the good rows reach it.
    """

    def __init__(self) -> None:
        self.next = 1
        self.taken: set[int] = set()

    def number(self, count: int, bad_rows: list[int]) -> np.ndarray:
        self.taken.update(r for r in bad_rows if r >= self.next)
        bad = np.array(sorted(self.taken), dtype=np.int64)
        candidates = np.arange(self.next, self.next + count + len(bad), dtype=np.int64)
        good = candidates[~np.isin(candidates, bad)][:count]
        self.next = int(good[-1]) + 1 if count else self.next
        self.taken = {r for r in self.taken if r >= self.next}
        return good


@contextmanager
def _silenced(handler: Callable[..., Any]) -> Iterator[None]:
    """Arrow reports a row it could not decode for `handler` as an unraisable error; the row is dealt with later."""
    before = sys.unraisablehook

    def hook(event: Any) -> None:
        if event.object is not handler:
            before(event)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = before


def _batches(reader: pacsv.CSVStreamingReader, handler: Callable[..., Any]) -> Iterator[pa.RecordBatch]:
    while True:
        with _silenced(handler):
            batch = next(reader, None)
        if batch is None:
            return
        yield batch


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, str | None]:
    """Nested objects become dotted columns; lists stay JSON text; every value becomes text.

    A name holding NUL is refused: SQL engines end a column's name there.
    """
    out: dict[str, str | None] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if NUL in name:
            raise ValueError(f'the field name "{_nul_shown(name)}" holds a NUL character')
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif value is None:
            out[name] = None
        elif isinstance(value, (list, bool)):
            out[name] = json.dumps(value)
        else:
            out[name] = str(value)
    return out


def _named(encoding: str) -> str:
    return "UTF-8" if encoding == "utf-8-sig" else encoding


def _nul_shown(name: str) -> str:
    return escaped(name).replace(NUL, "\\0")


def _jsonl_chunk(records: list[dict[str, str | None]], rows: list[int], malformed: list[MalformedRow]) -> RawChunk:
    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r))
    columns = {n: pa.array([r.get(n) for r in records], pa.string()) for n in names}
    columns[ROW_COLUMN] = pa.array(rows, pa.int64())
    return RawChunk(pa.table(columns), malformed)


def _empty(header: list[str]) -> pa.Table:
    fields = [pa.field(n, pa.string()) for n in header] + [pa.field(ROW_COLUMN, pa.int64())]
    return pa.schema(fields).empty_table()


@dataclass(frozen=True)
class FileJob:
    """One file to ingest, with the mapping that reads it."""

    path: Path
    mapping: Mapping
    source_instance_id: str | None = None
    encoding: str | None = None
    """A CSV file's text encoding, when not UTF-8."""
    sheet: str | None = None
    """An Excel workbook's sheet, when not its first."""
    named: str | None = None
    """What the file is to the user when `path` is a copy of it (a file of an export's zip: `WE_..._1.ZIP/Lead.csv`)."""

    @property
    def source_name(self) -> str:
        return self.named or str(self.path)


def jobs_from_manifest(folder: Path, schema: Schema = STANDARD) -> list[FileJob]:
    """The files a folder's manifest.yaml lists (as `accord generate` writes it), in order."""
    manifest = folder / "manifest.yaml"
    if not manifest.exists():
        raise FileFormatError(f"{folder} is a folder without manifest.yaml; name a file and its --mapping instead")
    try:
        listed = yaml_data(manifest.read_text(), str(manifest)) or {}
    except (OSError, UnicodeDecodeError, UnreadableYaml) as err:
        raise FileFormatError(str(err)) from None
    entries = listed.get("files") if isinstance(listed, dict) else None
    whole = isinstance(entries, list) and all(isinstance(e, dict) and {"path", "mapping"} <= e.keys() for e in entries)
    if not whole:
        raise FileFormatError(f"{manifest}: list the files under `files:`, each with its `path` and `mapping`")
    jobs = []
    for entry in entries:
        if not isinstance(entry.get("encoding", ""), str):
            raise FileFormatError(f"{manifest}: `encoding` of {entry['path']} is a name (cp1252, utf-16, ...)")
        if not isinstance(entry.get("sheet", ""), str):
            raise FileFormatError(f"{manifest}: `sheet` of {entry['path']} is a sheet's name, in quotes if a number")
        mapping_ref = entry["mapping"]
        if not Path(mapping_ref).is_absolute() and (folder / mapping_ref).exists():
            mapping_ref = str(folder / mapping_ref)
        jobs.append(FileJob(folder / entry["path"], resolve_mapping(mapping_ref, schema=schema),
                            entry.get("source_instance_id"), entry.get("encoding"), entry.get("sheet")))
    return jobs


def load_file(lake: Lake, job: FileJob, on_rows: Callable[[int], None] | None = None,
              reader: FileReader | None = None) -> IngestResult:
    """Ingest one file as one batch (read by `reader` when the caller has opened it already)."""
    reader = reader or FileReader(job.path, job.encoding, job.sheet)
    result = ingest_chunks(
        lake,
        job.mapping,
        reader.chunks(),
        source_name=job.source_name,
        fingerprint=reader.fingerprint(),
        source_instance_id=job.source_instance_id,
        strict_columns=reader.strict_columns,
        on_chunk=on_rows,
    )
    result.footer_lines = reader.footer_lines
    return result
