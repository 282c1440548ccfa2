"""A condition on one event, evaluated in Python exactly as the compiled SQL evaluates it (for the live path).

Events have three fields an audience may name: `event_type`, `url` (text) and `timestamp` (microseconds since the
epoch, UTC). As in the SQL, a comparison that meets a missing value is false, and `not` makes false true.
"""

from __future__ import annotations

import operator
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
from accord.model.times import micros

TEXT_FIELDS = ("event_type", "url")
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def supported(cond: Condition) -> bool:
    """Can `matches` evaluate it: only event fields, and values of the field's type."""
    if isinstance(cond, (And, Or)):
        return all(supported(c) for c in cond.items)
    if isinstance(cond, Not):
        return supported(cond.item)
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
    value = row.get(cond.field)
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


def _typed(field: str, value: Scalar) -> bool:
    if field in TEXT_FIELDS:
        return isinstance(value, str)
    return field == "timestamp" and isinstance(value, date) and not isinstance(value, datetime)


def _value(value: Scalar) -> Any:
    """A literal as the row holds it: a date is midnight UTC of that day (the SQL casts it so too)."""
    if isinstance(value, date):
        return micros(datetime.combine(value, time(), timezone.utc))
    return value
