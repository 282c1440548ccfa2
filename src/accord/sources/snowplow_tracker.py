"""What Snowplow's trackers send a Snowplow collector (the tracker protocol: `POST /com.snowplowanalytics.snowplow/tp2`
with a `payload_data` JSON, or one event as the query of `GET /i`), read as collector messages: a site or app
measured with Snowplow can send its events to Accord too. Each event is first given the fields Snowplow's enrichment
would give it, so it becomes the message its enriched row would (`sources/snowplow.py`). Its `aid` (the tracker's
app id) is the collector write key that admits it."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from accord import fastjson
from accord.sources.collector import BadBatch
from accord.sources.export_rows import NotAnEvent
from accord.sources.snowplow import snowplow_message

POST_PATH = "/com.snowplowanalytics.snowplow/tp2"
PIXEL_PATH = "/i"
PAYLOAD_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-"
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
"""The transparent 1×1 GIF a collector answers a pixel request with."""
EVENTS = {"pv": "page_view", "pp": "page_ping", "se": "struct", "ue": "unstruct", "tr": "transaction",
          "ti": "transaction_item"}
"""The tracker's event codes (`e`) and the enriched event each becomes."""
FIELDS = {"eid": "event_id", "uid": "user_id", "duid": "domain_userid", "nuid": "network_userid",
          "tnuid": "network_userid", "sid": "domain_sessionid", "url": "page_url", "page": "page_title",
          "refr": "page_referrer", "ua": "useragent", "se_ca": "se_category", "se_ac": "se_action", "se_la": "se_label",
          "se_pr": "se_property", "se_va": "se_value"}
"""Tracker parameters and the enriched fields they fill."""
CAMPAIGN = {"utm_medium": "mkt_medium", "utm_source": "mkt_source", "utm_term": "mkt_term",
            "utm_content": "mkt_content", "utm_campaign": "mkt_campaign"}
"""A page URL's campaign parameters, which Snowplow's enrichment reads into the marketing fields."""


def tracked(raw: bytes) -> tuple[list[dict[str, Any]], set[str]]:
    """The collector messages of one tracker POST, and the app ids its events carry; BadBatch naming what is wrong."""
    try:
        body = fastjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadBatch(f"the body is not JSON: {err}") from None
    schema = body.get("schema") if isinstance(body, dict) else None
    if not isinstance(schema, str) or not schema.startswith(PAYLOAD_SCHEMA):
        raise BadBatch("the body is not a Snowplow payload_data JSON ({\"schema\": \"iglu:com.snowplowanalytics."
                       "snowplow/payload_data/jsonschema/1-0-4\", \"data\": [...]})")
    events = body.get("data")
    if not isinstance(events, list) or not events:
        raise BadBatch("the payload's data holds no events")
    return _messages(events)


def pixel_event(query: str) -> tuple[list[dict[str, Any]], set[str]]:
    """The collector message of a pixel request's query (`e=pv&url=...`), and its app id."""
    params = {key: values[0] for key, values in parse_qs(query, keep_blank_values=True).items()}
    return _messages([params])


def _messages(events: list[Any]) -> tuple[list[dict[str, Any]], set[str]]:
    """The messages of tracker events (each a dict of its parameters), and the app ids they carry."""
    received = datetime.now(timezone.utc)
    messages, apps = [], set()
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise BadBatch(f"event {i} is not a JSON object")
        apps.add(str(event.get("aid") or ""))
        try:
            messages.append(_message(event, received))
        except NotAnEvent as err:
            raise BadBatch(f"event {i}: {err}") from None
    return messages, apps


def _message(event: dict[str, Any], received: datetime) -> dict[str, Any]:
    """The message of one tracker event: its enriched fields made as Snowplow's enrichment makes them."""
    code = event.get("e")
    if not isinstance(code, str) or code not in EVENTS:
        raise NotAnEvent(f"e {code!r} is no Snowplow event (one of {', '.join(EVENTS)})")
    row: dict[str, Any] = {"event": EVENTS[code]}
    for param, field in FIELDS.items():
        if event.get(param) not in (None, ""):
            row.setdefault(field, str(event[param]))
    if code == "ue":
        unstruct = _self_describing(event, "ue_pr", "ue_px")
        row["unstruct_event"] = unstruct
        inner = unstruct.get("data") if isinstance(unstruct, dict) else None
        row["event_name"] = _schema_name(inner.get("schema") if isinstance(inner, dict) else None)
    if "co" in event or "cx" in event:
        row["contexts"] = _self_describing(event, "co", "cx")
    query = parse_qs(urlsplit(row.get("page_url") or "").query)
    row |= {field: query[param][0] for param, field in CAMPAIGN.items() if query.get(param)}
    # A true timestamp is the event's time as sent; else the tracker's clock, which the collector corrects by how
    # far it is off when sent (stm), as Snowplow's enrichment derives derived_tstamp.
    created = _millis(event, "ttm") or _millis(event, "dtm")
    row["derived_tstamp"] = created or received
    message = snowplow_message(row)
    sent = None if event.get("ttm") else _millis(event, "stm")
    if created and sent:
        message["sentAt"] = sent.isoformat()
    return message


def _self_describing(event: dict[str, Any], plain: str, encoded: str) -> Any:
    """A self-describing JSON the tracker sent as JSON text (`plain`) or base64url-encoded (`encoded`)."""
    text = event.get(plain)
    if isinstance(text, (dict, list)):  # a server's tracker may post the JSON itself
        return text
    if text is None and event.get(encoded) is None:
        raise NotAnEvent(f"{plain} or {encoded} is missing")
    if text is None:
        value = str(event[encoded])
        try:
            text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
        except (binascii.Error, ValueError) as err:
            raise NotAnEvent(f"{encoded} is not base64url JSON: {err}") from None
    try:
        return fastjson.loads(str(text).encode())
    except ValueError as err:
        raise NotAnEvent(f"{plain if event.get(plain) is not None else encoded} is not JSON: {err}") from None


def _schema_name(schema: Any) -> str | None:
    """`iglu:com.acme/signed_up/jsonschema/1-0-0` names the event `signed_up`."""
    parts = schema.removeprefix("iglu:").split("/") if isinstance(schema, str) else []
    return parts[1] if len(parts) == 4 and parts[1] else None


def _millis(event: dict[str, Any], param: str) -> datetime | None:
    """A time the tracker sent as milliseconds since the epoch; NotAnEvent when it is no such number."""
    value = event.get(param)
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise NotAnEvent(f"{param} {value!r} is no time in milliseconds since 1970") from None
