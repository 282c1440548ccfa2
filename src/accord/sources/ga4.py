"""Google Analytics 4's BigQuery export (its `events_YYYYMMDD` tables, extracted as JSON lines or Parquet): each
row as the message a site's tag would have sent the collector, so a site's GA4 history loads as its live events
do."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from accord.model.times import EPOCH
from accord.sources.export_rows import NotAnEvent, content_id, event_name, place

VALUE_KINDS = ("string_value", "int_value", "float_value", "double_value")
"""Where an `event_params` entry holds its value: the first of them that is set."""
PAGE_PARAMS = {"url": "page_location", "title": "page_title", "referrer": "page_referrer"}


def ga4_message(row: dict[str, Any]) -> dict[str, Any]:
    """The message a row stands for: `page_view` a page, any other event a track of its name; `user_pseudo_id` its
    anonymousId, `user_id` its userId, `event_params` its properties, the page among them its context's."""
    name = event_name(row, "event_name")
    stamp = row.get("event_timestamp")
    try:
        at = EPOCH + timedelta(microseconds=int(stamp))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise NotAnEvent(f"event_timestamp {stamp!r} is not microseconds since 1970") from None
    params = _params(row.get("event_params"))
    context: dict[str, Any] = {"page": {key: params[p] for key, p in PAGE_PARAMS.items() if params.get(p) is not None}}
    if isinstance(geo := row.get("geo"), dict):
        context["location"] = place(geo.get("country"), geo.get("region"), geo.get("city"))
    if isinstance(device := row.get("device"), dict):
        context["device"] = device
    message: dict[str, Any] = {
        "type": "page" if name == "page_view" else "track", "messageId": content_id(row), "timestamp": at.isoformat(),
        "anonymousId": row.get("user_pseudo_id"), "properties": params, "context": context,
    }
    if name != "page_view":
        message["event"] = name
    if row.get("user_id") not in (None, ""):
        message["userId"] = row["user_id"]
    return message


def _params(entries: Any) -> dict[str, Any]:
    """`[{"key": k, "value": {"string_value": v, ...}}, ...]` as `{k: v}`."""
    out: dict[str, Any] = {}
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("value"), dict):
            out[entry["key"]] = next((entry["value"][kind] for kind in VALUE_KINDS
                                      if entry["value"].get(kind) is not None), None)
    return out
