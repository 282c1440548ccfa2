"""A condition on one event, evaluated in Python exactly as the compiled SQL evaluates it (for the live path).

Events have three fields an audience may name: `event_type`, `url` (text) and `timestamp` (microseconds since the
epoch, UTC), and their `properties` (a dict, or its JSON text): a property is read as the kind of value it is
compared with, as the compiled SQL reads it. As in the SQL, a comparison that meets a missing value is false, and
`not` makes false true.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from typing import Any

from accord.audiences.ast import (
    And,
    Between,
    Compare,
    Condition,
    InValues,
    IsNull,
    Not,
    Or,
    Scalar,
)
from accord.audiences.fields import literals, property_kind, property_path
from accord.model.entities import ColumnType
from accord.model.times import micros

NUMBER_TEXT = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
"""Property text read as a number, here and (anchored) in the compiled SQL."""

TEXT_FIELDS = ("event_type", "url")
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def supported(cond: Condition) -> bool:
    """Can `matches` evaluate it: only event fields, and values of the field's type."""
    if isinstance(cond, (And, Or)):
        return all(supported(c) for c in cond.items)
    if isinstance(cond, Not):
        return supported(cond.item)
    if isinstance(cond, (Compare, InValues, IsNull, Between)) and property_path(cond.field):
        return not any(isinstance(v, date) for v in literals(cond))
    if isinstance(cond, IsNull):
        return cond.field in (*TEXT_FIELDS, "timestamp")
    if isinstance(cond, Compare):
        if cond.op in ("contains", "starts with", "ends with"):
            return cond.field in TEXT_FIELDS and isinstance(cond.value, str)
        return _typed(cond.field, cond.value)
    if isinstance(cond, InValues):
        return all(_typed(cond.field, v) for v in cond.values)
    if isinstance(cond, Between):
        return _typed(cond.field, cond.low) and _typed(cond.field, cond.high)
    return False


def matches(cond: Condition, row: dict[str, Any]) -> bool:
    """Does the event `row` (event_type, url, timestamp in microseconds) satisfy `cond`?"""
    if isinstance(cond, And):
        return all(matches(c, row) for c in cond.items)
    if isinstance(cond, Or):
        return any(matches(c, row) for c in cond.items)
    if isinstance(cond, Not):
        return not matches(cond.item, row)
    keys = property_path(cond.field)
    value = row.get(cond.field) if keys is None else _property(row, keys, cond)
    if isinstance(cond, IsNull):
        return (value is not None) if cond.negated else (value is None)
    if isinstance(cond, InValues):
        inside = value is not None and value in {_value(v) for v in cond.values}
        return not inside if cond.negated else inside
    if value is None:
        return False
    if isinstance(cond, Between):
        return _value(cond.low) <= value <= _value(cond.high)
    assert isinstance(cond, Compare)
    if cond.op == "contains":
        return str(cond.value) in value
    if cond.op == "starts with":
        return value.startswith(str(cond.value))
    if cond.op == "ends with":
        return value.endswith(str(cond.value))
    return COMPARE[cond.op](value, _value(cond.value))


def _property(row: dict[str, Any], keys: list[str], cond: Condition) -> Any:
    """The property at `keys` as the SQL reads it: its JSON scalar text, then as the literal's kind."""
    props = row.get("properties")
    value: Any = json.loads(props) if isinstance(props, str) else props
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if value is None:
        return None
    text = value if isinstance(value, str) else ("true" if value else "false") if isinstance(value, bool) \
        else json.dumps(value, separators=(",", ":"))
    kind = property_kind(cond)  # type: ignore[arg-type]
    if kind is ColumnType.BOOLEAN:
        return {"true": True, "false": False}.get(text)
    if kind is ColumnType.NUMBER:
        return float(text) if re.fullmatch(NUMBER_TEXT, text) else None
    return text


def _typed(field: str, value: Scalar) -> bool:
    if field in TEXT_FIELDS:
        return isinstance(value, str)
    return field == "timestamp" and isinstance(value, date) and not isinstance(value, datetime)


def _value(value: Scalar) -> Any:
    """A literal as the row holds it: a date is midnight UTC of that day (the SQL casts it so too)."""
    if isinstance(value, date):
        return micros(datetime.combine(value, time(), timezone.utc))
    return value
