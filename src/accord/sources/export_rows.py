"""What the rows of analytics exports (GA4's, Mixpanel's, Amplitude's) share on their way to being collector
messages: the refusal of a row that is no event, and an id made of a row's content for a row that has none."""

from __future__ import annotations

from typing import Any

from accord.sources.collector import message_hash


class NotAnEvent(ValueError):
    """A row that names no event its export holds (no event name, or no time that can be read)."""


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
