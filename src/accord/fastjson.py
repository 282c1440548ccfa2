"""JSON at collector speed: orjson, and the standard library for what orjson refuses (integers beyond 64 bits,
NaN), so nothing a client could send before is refused now."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ValueError (json.JSONDecodeError) when neither parser accepts it, or when it nests too
    deeply for either."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
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
