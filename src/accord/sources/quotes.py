"""A CSV value whose opening quote is never properly closed: it runs on over the lines after it, and the records
on those lines silently become part of it. Readers that accept such a file (Arrow's, Spark's, Python's by
default) load the runaway value as it is, so those records would be lost without a word; they are found here by
reading the file strictly, and the record holding them is quarantined whole, with the lines it took in."""

from __future__ import annotations

import csv
import io
from typing import BinaryIO

import pyarrow as pa

LINE_BREAKS = (b"\n", b"\r")
END_OF_FILE = "unexpected end of data"
"""What Python's strict reader says of a quote still open where the file ends."""


def holds_line_break(table: pa.Table, columns: list[str]) -> bool:
    """Whether a value of `columns` (text or bytes) may hold a line break: only then can a quote have run away.
    The values' bytes are searched as one block (0.02 s on 160 MB, where a search per value took 0.45 s); a
    column sliced from a larger one may answer yes for bytes outside it, which costs only a strict read."""
    for name in columns:
        for chunk in table[name].chunks:
            buffers = chunk.buffers()  # validity, offsets, values: a column of nulls alone has fewer
            values = buffers[2].to_pybytes() if len(buffers) > 2 and buffers[2] is not None else b""
            if any(brk in values for brk in LINE_BREAKS):
                return True
    return False


def runaway_quotes(records: BinaryIO, delimiter: str, lines_before: int = 0) -> dict[int, str]:
    """The records (numbered from 1 after the header, blank lines skipped, as Arrow numbers them) whose quoted value
    takes in line breaks and is not closed where a value ends, each with the reason it is quarantined; line numbers
    count the file's `lines_before` the records' text too."""
    text = io.TextIOWrapper(records, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    found: dict[int, str] = {}
    number, ended = -1, 0  # the header is record 0; `ended`: the last line of the record read before
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return found
        except csv.Error as err:
            number += 1
            if reader.line_num > ended + 1:  # a problem within one line takes no other record with it
                found[number] = _reason(lines_before + ended + 1, lines_before + reader.line_num, str(err))
        else:
            number += bool(record)
        ended = reader.line_num


def _reason(first: int, last: int, problem: str) -> str:
    where = ("is never closed: it runs to the end of the file" if problem == END_OF_FILE
             else f"is not closed where a value ends (line {last}: {problem})")
    taken = f"line {last}" if last == first + 1 else f"lines {first + 1} to {last}"
    return (f"runaway_quote: the quoted value opened on line {first} {where}, taking in {taken}, whose records are "
            "kept here; close the quote and load the file again")
