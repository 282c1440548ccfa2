"""PostHog's events as its batch exports write them (to S3 or a warehouse: JSON lines or Parquet, an event a row):
each event as the message posthog-js or a server SDK would have sent the collector, so a product's PostHog history
loads as its live events do."""

from __future__ import annotations

from typing import Any

from accord.sources.export_rows import (
    content_id,
    event_name,
    json_value,
    place,
    utc_instant,
)

PAGE_VIEW, SCREEN = "$pageview", "$screen"
IDENTIFY = "$identify"
"""Ties the anonymous id (`$anon_distinct_id`) to the id a user signed in with (`distinct_id`); `$set` the traits."""
ALIAS = "$create_alias"
GROUP = "$groupidentify"
"""Names a group (`$group_key`) and its traits (`$group_set`), as a group call does."""
SAID_BY_THE_MESSAGE = {"distinct_id", "$anon_distinct_id", "$device_id", "$set", "$set_once", "$group_set", "alias",
                       "token"}
"""Properties the message itself states (its ids and traits; the project token is no property of the event)."""


def posthog_message(row: dict[str, Any]) -> dict[str, Any]:
    """The message an exported event stands for: `$pageview` a page, `$screen` a screen, `$identify` an identify,
    `$create_alias` an alias, `$groupidentify` a group, any other event a track of its name. `distinct_id` is the
    userId once posthog-js marks the person identified (`$is_identified`) or when a server sent it, else the
    anonymousId; `$device_id` is the anonymousId beside a userId."""
    name = event_name(row, "event")
    props = _object(row.get("properties"))
    context: dict[str, Any] = {}
    if props.get("$current_url"):
        context["page"] = {key: props[p] for key, p in (("url", "$current_url"), ("title", "title"),
                                                        ("referrer", "$referrer"), ("path", "$pathname"))
                           if props.get(p)}
    if located := place(props.get("$geoip_country_code"), props.get("$geoip_subdivision_1_name"),
                        props.get("$geoip_city_name")):
        context["location"] = located
    distinct, device = row.get("distinct_id") or props.get("distinct_id"), props.get("$device_id")
    message: dict[str, Any] = {
        "messageId": row.get("uuid") or content_id(row),
        "timestamp": utc_instant(row.get("timestamp"), "timestamp").isoformat(),
        "properties": {key: value for key, value in props.items() if key not in SAID_BY_THE_MESSAGE},
        "context": context,
    }
    if name == IDENTIFY:
        return {**message, "type": "identify", "userId": distinct,
                "anonymousId": props.get("$anon_distinct_id") or device, "traits": _object(props.get("$set"))}
    if name == ALIAS:
        return {**message, "type": "alias", "userId": props.get("alias"), "previousId": distinct}
    identified = props.get("$is_identified")
    user = distinct if identified is True or (identified is None and distinct != device) else None
    message |= {"userId": user, "anonymousId": device if user else distinct}
    if name == GROUP:
        return {**message, "type": "group", "groupId": props.get("$group_key"),
                "traits": _object(props.get("$group_set"))}
    if name == PAGE_VIEW:
        return {**message, "type": "page"}
    if name == SCREEN:
        return {**message, "type": "screen", "name": props.get("$screen_name")}
    return {**message, "type": "track", "event": name}


def _object(value: Any) -> dict[str, Any]:
    """A JSON object column: a batch export to S3 writes `properties` as JSON text, a warehouse as an object."""
    value = json_value(value)
    return value if isinstance(value, dict) else {}

