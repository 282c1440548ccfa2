"""Exports joined into one file (`cat jan.csv feb.csv > all.csv`): each file's header line after the first is a
record made of the column names. Loaded as a record it would be a bogus one (an account named `Name`), so it is
quarantined as `repeated_header`, under its record number, and the records after it load."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accord.sources.base import header_cell

BYTE_ORDER_MARK = "\ufeff"
REPEATED_HEADER = "repeated_header: the header line again, as in files joined one after the other; nothing to load"


def is_header(values: list[str], header: list[str]) -> bool:
    """Whether a record's values are the column names, each as `written_forms` allows."""
    return len(values) == len(header) and all(v in forms for v, forms in zip(values, written_forms(header)))


def written_forms(header: list[str]) -> list[list[str]]:
    """Per column, the texts its header cell may be written as: its name, or the cell `header_names` named it
    from (blank, or a name given twice), and on the first column either behind a byte-order mark."""
    forms = [list(dict.fromkeys([name, header_cell(name, place)])) for place, name in enumerate(header, start=1)]
    forms[0] += [BYTE_ORDER_MARK + text for text in forms[0]]
    return forms


def header_rows(table: pa.Table, header: list[str]) -> np.ndarray:
    """Which rows of `table` (byte or text columns named as `header`) are the header line again."""
    found = None
    for name, texts in zip(header, written_forms(header)):
        column = table[name]
        same = pc.is_in(column, pa.array([_like(column, text) for text in texts]))
        found = same if found is None else pc.and_(found, same)
        if not pc.any(found).as_py():
            break
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def _like(column: pa.ChunkedArray, text: str) -> pa.Scalar:
    return pa.scalar(text.encode() if pa.types.is_binary(column.type) else text, column.type)
