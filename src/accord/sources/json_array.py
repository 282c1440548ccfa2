"""A `.json` file holding one JSON array of objects (as many tools and APIs export records), read element by
element so that a file of any size is never held whole: element n is row n. An element that is not an object Accord
can keep is quarantined by itself; text that is not JSON at all ends the reading, the rest of the file quarantined
as one row (nothing after it can be told apart)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from accord.ingest.limits import escaped, json_problem
from accord.sources.base import MalformedRow

READ_CHARS = 1 << 20
SHOWN_CHARS = 1 << 20
"""How much of an unreadable rest quarantine keeps (the file itself holds the rest)."""
BLANKS = " \t\r\n"
NOT_BLANK = re.compile(r"[^ \t\r\n]")


class JsonArrayError(ValueError):
    """A `.json` file that holds no JSON array of objects."""


def starts_array(path: Path) -> bool | None:
    """Whether the file's JSON text begins an array (True) or an object (False); None when it is blank."""
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        while chunk := f.read(4096):
            text = chunk.lstrip(BLANKS)
            if text:
                return text[0] == "["
    return None


def elements(path: Path) -> Iterator[tuple[int, dict[str, Any]] | MalformedRow]:
    """(row, object) for each element that is an object Accord keeps; a MalformedRow for any other."""
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        yield from _Elements(f)


class _Elements:
    """The array's elements, decoded from a window of the file's text that moves on as they are read."""

    def __init__(self, f: TextIO) -> None:
        self.f, self.text, self.at, self.ended = f, "", 0, False
        self.decoder = json.JSONDecoder()

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]] | MalformedRow]:
        if self._next_char() != "[":
            raise JsonArrayError("the file does not begin a JSON array")
        self.at += 1
        row = 0
        while True:
            char = self._next_char()
            if char == "]":
                return
            if row and char == ",":
                self.at += 1
                char = self._next_char()
            elif row and char:
                yield self._rest(row + 1, "a ',' or ']' was expected between elements")
                return
            row += 1
            if char == "":
                yield MalformedRow(row, "", "malformed_row: the file ends before the array's closing ']': was it cut "
                                            "short? The elements before were read")
                return
            try:
                value = self._value()
            except (ValueError, RecursionError) as err:
                yield self._rest(row, "nested too deep to read" if isinstance(err, RecursionError) else str(err))
                return
            problem = "an element must be a JSON object" if not isinstance(value, dict) else json_problem(value)
            if problem:
                yield MalformedRow(row, escaped(json.dumps(value)[:SHOWN_CHARS]), f"malformed_row: {problem}")
            else:
                yield row, value

    def _next_char(self) -> str:
        """The next character that is not blank ('' at the end), read into the window if need be."""
        while True:
            found = NOT_BLANK.search(self.text, self.at)
            if found:
                self.at = found.start()
                return self.text[self.at]
            self.at = len(self.text)
            if not self._more():
                return ""

    def _value(self) -> Any:
        """The element at the window's start: a value is whole only when text follows it (or the file ends)."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.at)
            except json.JSONDecodeError:
                if self._more():
                    continue
                raise
            if end < len(self.text) or not self._more():
                self.at = end
                return value

    def _more(self) -> bool:
        """Read on: the window keeps what is not read yet, then the file's next characters."""
        if self.ended:
            return False
        chunk = self.f.read(READ_CHARS)
        self.ended = not chunk
        self.text, self.at = self.text[self.at:] + chunk, 0
        return bool(chunk)

    def _rest(self, row: int, problem: str) -> MalformedRow:
        """The rest of the file, which cannot be told apart into elements, as one quarantined row."""
        while len(self.text) - self.at < SHOWN_CHARS and self._more():
            pass
        return MalformedRow(row, escaped(self.text[self.at:self.at + SHOWN_CHARS]),
                            f"malformed_row: {problem}; the rest of the file is not read")
