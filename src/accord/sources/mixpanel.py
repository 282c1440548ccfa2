"""Mixpanel's raw event export (its Export API's JSON lines, or what its data pipelines write to a bucket): each
event as the message a site's tag would have sent the collector, so a product's Mixpanel history loads as its live
events do."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from accord.model.times import EPOCH
from accord.sources.export_rows import NotAnEvent, content_id, event_name, place

PAGE_VIEW = "$mp_web_page_view"
"""The page view Mixpanel's JavaScript library tracks by itself."""
IDENTIFY = "$identify"
"""The original ID merge's tie of an anonymous id (`$anon_id`) to the id a user signed in with (`$identified_id`)."""
ALIAS = "$create_alias"
"""The original ID merge's alias: `alias` becomes another id of the event's `distinct_id`."""
DEVICE_PREFIX = "$device:"
"""How Simplified ID Merge writes the `distinct_id` of an event sent before sign-in."""
SAID_BY_THE_MESSAGE = {"distinct_id", "time", "$insert_id", "token", "$user_id", "$device_id", "$anon_id",
                       "$identified_id", "alias"}
"""Properties the message itself states (its ids and time; the project token is no property of the event)."""
MILLISECONDS = 100_000_000_000
"""A `time` past this is milliseconds (as Mixpanel's import takes it): as seconds it would be the year 5138."""


def mixpanel_message(row: dict[str, Any], zone: ZoneInfo | None = None) -> dict[str, Any]:
    """The message an exported event stands for: `$mp_web_page_view` a page, `$identify` an identify, `$create_alias`
    an alias, any other event a track of its name. `$user_id` is its userId and `$device_id` its anonymousId (as
    Simplified ID Merge sets them); an event with neither, as a server sends it, belongs to its `distinct_id` as a
    user. `zone`: the project's time zone, in which a project created before 2023 exports `time`."""
    name = event_name(row, "event")
    props = row.get("properties")
    if not isinstance(props, dict):
        raise NotAnEvent("properties is missing")
    context: dict[str, Any] = {}
    if props.get("$current_url"):
        context["page"] = {key: props[p] for key, p in (("url", "$current_url"), ("title", "current_page_title"),
                                                        ("referrer", "$referrer")) if props.get(p)}
    if located := place(props.get("mp_country_code"), props.get("$region"), props.get("$city")):
        context["location"] = located
    message: dict[str, Any] = {
        "messageId": props.get("$insert_id") or content_id(row), "timestamp": _instant(props.get("time"), zone).isoformat(),
        "properties": {key: value for key, value in props.items() if key not in SAID_BY_THE_MESSAGE},
        "context": context,
    }
    distinct = props.get("distinct_id")
    if name == IDENTIFY:
        return {**message, "type": "identify", "userId": props.get("$identified_id") or distinct,
                "anonymousId": props.get("$anon_id")}
    if name == ALIAS:
        return {**message, "type": "alias", "userId": props.get("alias"), "previousId": distinct}
    user, device = props.get("$user_id"), props.get("$device_id")
    if isinstance(distinct, str) and distinct.startswith(DEVICE_PREFIX):
        device = device or distinct.removeprefix(DEVICE_PREFIX)
    elif user is None and device is None:
        user = distinct
    message |= {"type": "page" if name == PAGE_VIEW else "track", "userId": user, "anonymousId": device}
    if name != PAGE_VIEW:
        message["event"] = name
    return message


def _instant(time: Any, zone: ZoneInfo | None = None) -> datetime:
    """An event's `time`: seconds since 1970 (in UTC, as Mixpanel has kept it since 2023), or milliseconds; with
    `zone`, seconds since 1970 of the clock on the wall there (how projects created before 2023 keep it)."""
    if isinstance(time, bool) or not isinstance(time, (int, float)):
        raise NotAnEvent(f"time {time!r} is not seconds since 1970")
    try:
        at = EPOCH + timedelta(milliseconds=time) if abs(time) >= MILLISECONDS else EPOCH + timedelta(seconds=time)
        return at if zone is None else at.replace(tzinfo=zone).astimezone(EPOCH.tzinfo)
    except OverflowError:
        raise NotAnEvent(f"time {time!r} is not seconds since 1970") from None
