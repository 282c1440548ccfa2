"""What the rows of analytics exports (GA4's, Mixpanel's, Amplitude's, PostHog's, Snowplow's) share on their way to
being collector messages: the refusal of a row that is no event, its name and time as they write them, and an id
made of a row's content for a row that has none."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from accord.sources.collector import message_hash


class NotAnEvent(ValueError):
    """A row that names no event its export holds (no event name, or no time that can be read)."""


def event_name(row: dict[str, Any], field: str) -> str:
    """The event a row names in `field`; NotAnEvent when it names none."""
    name = row.get(field)
    if not isinstance(name, str) or not name:
        raise NotAnEvent(f"{field} is missing")
    return name


def utc_instant(value: Any, field: str) -> datetime:
    """A time as exports write it (ISO 8601, a `T` or a space before the time; without an offset, UTC);
    NotAnEvent naming `field` when it is none."""
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise NotAnEvent(f"{field} {value!r} is no time") from None
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


def json_value(value: Any) -> Any:
    """A JSON column: a file holds its text, a warehouse extract its value (text that is no JSON: none)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def content_id(row: dict[str, Any]) -> str:
    """An id for a row its export gives none: its content, so the same row exported twice is one event, in JSON
    lines or in Parquet alike."""
    return message_hash(_plain(row))


def place(country: Any, region: Any, city: Any) -> dict[str, Any]:
    """Where an event happened, as a message's `context.location` says it (what is unknown left out)."""
    return {key: value for key, value in (("country", country), ("region", region), ("city", city)) if value}


def _plain(value: Any) -> Any:
    """A row as both extracts agree on it: JSON writes a 64-bit integer as text and Parquet as a number, and one
    leaves out a null the other keeps."""
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value
