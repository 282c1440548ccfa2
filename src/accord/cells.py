"""Text as a spreadsheet cell: a value that a spreadsheet would run as a formula is written with a leading `'`
(CSV injection: a name from a web form such as `=HYPERLINK(...)` runs when a marketer opens the file)."""

from __future__ import annotations

import re

FORMULA = re.compile(r"[=+\-@\t\r]")
"""What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection)."""
NUMBER_LIKE = re.compile(r"[+-]?[0-9][0-9 ().+-]*")
"""A number or a phone number (`-5`, `+1 555 0100`): no function can be named without a letter, so it is written
as it is."""


def as_cell(text: str) -> str:
    """`text` as a CSV file for spreadsheets holds it."""
    return f"'{text}" if FORMULA.match(text) and not NUMBER_LIKE.fullmatch(text) else text


def from_cell(text: str) -> str:
    """A cell's value before `as_cell` escaped it."""
    return text[1:] if text.startswith("'") and FORMULA.match(text[1:]) else text
