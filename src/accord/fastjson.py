"""JSON at collector speed: orjson, and the standard library for what orjson refuses (NaN) or reads inexactly
(integers beyond 64 bits), so nothing a client could send before is refused or changed now."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

LONG_DIGITS_TEXT = re.compile(r"[0-9]{19}")
"""A run of digits that may be an integer past 64 bits: orjson reads one as a float (12345678901234567890123 becomes
1.2345678901234568e+22, the same float as its neighbours), so such a document is read by the standard library."""
ZEROED_DIGITS = bytes.maketrans(b"123456789", b"000000000")
LONG_ZEROS = b"0" * 19
"""The same run in bytes, every digit made a 0 first: searching for it is 17 times faster than the pattern (on an
84 KB log line, 0.06 ms against 1.06 ms, and five times the cost of parsing the line)."""


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ValueError (json.JSONDecodeError) when neither parser accepts it, or when it nests too
    deeply for either. Integers are read exactly, however long."""
    if (LONG_DIGITS_TEXT.search(data) is not None if isinstance(data, str)
            else LONG_ZEROS in data.translate(ZEROED_DIGITS)):
        return _standard(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _standard(data)


def _standard(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None


def dumps(value: Any) -> str:
    """Compact JSON text."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))
