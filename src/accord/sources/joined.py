"""Exports joined into one file (`cat jan.csv feb.csv > all.csv`): each file's header line after the first is a
record made of the column names. Loaded as a record it would be a bogus one (an account named `Name`), so it is
quarantined as `repeated_header`, under its record number, and the records after it load."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BYTE_ORDER_MARK = "\ufeff"
REPEATED_HEADER = "repeated_header: the header line again, as in files joined one after the other; nothing to load"


def is_header(values: list[str], header: list[str]) -> bool:
    """Whether a record's values are the column names (the first may carry the joined file's byte-order mark)."""
    return len(values) == len(header) and [values[0].removeprefix(BYTE_ORDER_MARK), *values[1:]] == header


def header_rows(table: pa.Table, header: list[str]) -> np.ndarray:
    """Which rows of `table` (byte or text columns named as `header`) are the header line again."""
    first = table[header[0]]
    found = pc.is_in(first, pa.array([_like(first, mark + header[0]) for mark in ("", BYTE_ORDER_MARK)]))
    for name in header[1:]:
        if not pc.any(found).as_py():
            break
        found = pc.and_(found, pc.equal(table[name], _like(table[name], name)))
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def _like(column: pa.ChunkedArray, text: str) -> pa.Scalar:
    return pa.scalar(text.encode() if pa.types.is_binary(column.type) else text, column.type)
