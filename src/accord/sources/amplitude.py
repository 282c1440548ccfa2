"""Amplitude's event export (its Export API's zip of gzipped JSON lines, or its export to a bucket): each event as the
message a site's or app's SDK would have sent the collector, so a product's Amplitude history loads as its live
events do."""

from __future__ import annotations

from typing import Any

from accord.sources.export_rows import content_id, event_name, place, utc_instant

PAGE_VIEWS = {"[Amplitude] Page Viewed", "Page View"}
"""The page views Amplitude's Browser SDK tracks by itself (version 2, and its page view plugin before)."""
IDENTIFY = "$identify"
"""An identify call: the user's properties as it set them."""
PAGE_PROPERTIES = {"url": ("[Amplitude] Page Location", "[Amplitude] Page URL", "page_location", "page_url"),
                   "title": ("[Amplitude] Page Title", "page_title"), "path": ("[Amplitude] Page Path", "page_path")}
"""The page an event names, first choice first: the location keeps the query string the URL leaves out."""
DEVICE = ("platform", "os_name", "os_version", "device_type", "device_family", "language")


def amplitude_message(row: dict[str, Any]) -> dict[str, Any]:
    """The message an exported event stands for: a page view a page, `$identify` an identify (its user properties
    the traits), any other event a track of its name; `user_id` its userId, `device_id` its anonymousId, `uuid` its
    messageId, `event_time` (UTC) its time."""
    name = event_name(row, "event_type")
    props = row.get("event_properties") if isinstance(row.get("event_properties"), dict) else {}
    context: dict[str, Any] = {}
    page = {key: next(props[p] for p in names if props.get(p)) for key, names in PAGE_PROPERTIES.items()
            if any(props.get(p) for p in names)}
    if page:
        context["page"] = page
    if located := place(row.get("country"), row.get("region"), row.get("city")):
        context["location"] = located
    if device := {key: row[key] for key in DEVICE if row.get(key)}:
        context["device"] = device
    message: dict[str, Any] = {
        "messageId": row.get("uuid") or row.get("$insert_id") or content_id(row),
        "timestamp": utc_instant(row.get("event_time"), "event_time").isoformat(), "userId": row.get("user_id"),
        "anonymousId": row.get("device_id"), "properties": props, "context": context,
    }
    if name == IDENTIFY:
        traits = row.get("user_properties")
        return {**message, "type": "identify", "traits": traits if isinstance(traits, dict) else {}}
    if name in PAGE_VIEWS:
        return {**message, "type": "page"}
    return {**message, "type": "track", "event": name}

