"""Snowplow's enriched events (the enriched stream's TSV, as its S3 loader writes it, or rows of the `atomic.events`
table extracted from a warehouse): each event as the message a site's tracker would have sent the collector, so a
site's Snowplow history loads as its live events do."""

from __future__ import annotations

from typing import Any

from accord.sources.export_rows import (
    NotAnEvent,
    event_name,
    json_value,
    place,
    utc_instant,
)

FIELDS = (
    "app_id platform etl_tstamp collector_tstamp dvce_created_tstamp event event_id txn_id name_tracker v_tracker "
    "v_collector v_etl user_id user_ipaddress user_fingerprint domain_userid domain_sessionidx network_userid "
    "geo_country geo_region geo_city geo_zipcode geo_latitude geo_longitude geo_region_name ip_isp ip_organization "
    "ip_domain ip_netspeed page_url page_title page_referrer page_urlscheme page_urlhost page_urlport page_urlpath "
    "page_urlquery page_urlfragment refr_urlscheme refr_urlhost refr_urlport refr_urlpath refr_urlquery "
    "refr_urlfragment refr_medium refr_source refr_term mkt_medium mkt_source mkt_term mkt_content mkt_campaign "
    "contexts se_category se_action se_label se_property se_value unstruct_event tr_orderid tr_affiliation tr_total "
    "tr_tax tr_shipping tr_city tr_state tr_country ti_orderid ti_sku ti_name ti_category ti_price ti_quantity "
    "pp_xoffset_min pp_xoffset_max pp_yoffset_min pp_yoffset_max useragent br_name br_family br_version br_type "
    "br_renderengine br_lang br_features_pdf br_features_flash br_features_java br_features_director "
    "br_features_quicktime br_features_realplayer br_features_windowsmedia br_features_gears br_features_silverlight "
    "br_cookies br_colordepth br_viewwidth br_viewheight os_name os_family os_manufacturer os_timezone dvce_type "
    "dvce_ismobile dvce_screenwidth dvce_screenheight doc_charset doc_width doc_height tr_currency tr_total_base "
    "tr_tax_base tr_shipping_base ti_currency ti_price_base base_currency geo_timezone mkt_clickid mkt_network "
    "etl_tags dvce_sent_tstamp refr_domain_userid refr_device_tstamp derived_contexts domain_sessionid derived_tstamp "
    "event_vendor event_name event_format event_version event_fingerprint true_tstamp").split()
"""The enriched event's fields, in the order its TSV holds them (the TSV has no header)."""
STRUCTURED = ("se_category", "se_action", "se_label", "se_property", "se_value")
"""A structured event's own fields, kept as its properties."""
NIL_ID = "00000000-0000-0000-0000-000000000000"
"""The network user id a collector writes when the tracker asks for anonymous tracking: no one's."""
CAMPAIGN = {"medium": "mkt_medium", "source": "mkt_source", "term": "mkt_term", "content": "mkt_content",
            "name": "mkt_campaign"}


def enriched_fields(line: bytes) -> dict[str, Any]:
    """A line of the enriched TSV as its fields by name (an empty field is none)."""
    try:
        values = line.rstrip(b"\r\n").decode("utf-8").split("\t")
    except UnicodeDecodeError:
        raise NotAnEvent("not UTF-8 text") from None
    if len(values) != len(FIELDS):
        raise NotAnEvent(f"{len(values)} tab-separated fields, not the {len(FIELDS)} of an enriched Snowplow event")
    return {name: value or None for name, value in zip(FIELDS, values)}


def snowplow_message(row: dict[str, Any]) -> dict[str, Any]:
    """The message an enriched event stands for: `page_view` a page, any other event (a self-describing event by its
    `event_name`, a structured one by its category and action, `page_ping`, a transaction) a track; `user_id` its
    userId and its visitor (`_visitor`) its anonymousId, `event_id` its messageId and `derived_tstamp` (the
    tracker's time with its clock's skew taken out; else `collector_tstamp`) its time."""
    kind = event_name(row, "event")
    context: dict[str, Any] = {}
    if page := {key: row[f] for key, f in (("url", "page_url"), ("title", "page_title"),
                                           ("referrer", "page_referrer")) if row.get(f)}:
        context["page"] = page
    if located := place(row.get("geo_country"), row.get("geo_region"), row.get("geo_city")):
        context["location"] = located
    if campaign := {key: row[f] for key, f in CAMPAIGN.items() if row.get(f)}:
        context["campaign"] = campaign
    if row.get("useragent"):
        context["userAgent"] = row["useragent"]
    properties = _properties(kind, row)
    if entities := _self_describing(row.get("contexts")):
        properties["contexts"] = entities
    at = utc_instant(row.get("derived_tstamp") or row.get("collector_tstamp"), "derived_tstamp")
    message: dict[str, Any] = {
        "messageId": row.get("event_id"), "timestamp": at.isoformat(),
        "userId": row.get("user_id"), "anonymousId": _visitor(row),
        "properties": properties, "context": context,
    }
    if kind == "page_view":
        return {**message, "type": "page"}
    return {**message, "type": "track", "event": _name(kind, row)}


def _visitor(row: dict[str, Any]) -> str | None:
    """Who sent an event unsigned: its domain user id, else its network user id; with anonymous tracking (neither,
    or the nil id), its session."""
    network = row.get("network_userid") if row.get("network_userid") != NIL_ID else None
    return row.get("domain_userid") or network or row.get("domain_sessionid")


def _name(kind: str, row: dict[str, Any]) -> str:
    if kind == "unstruct" and isinstance(row.get("event_name"), str) and row["event_name"]:
        return row["event_name"]
    if kind == "struct":
        return " ".join(str(row[f]) for f in ("se_category", "se_action") if row.get(f)) or kind
    return kind


def _properties(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    if kind == "struct":
        return {f.removeprefix("se_"): row[f] for f in STRUCTURED if row.get(f) is not None}
    if kind == "unstruct":
        event = json_value(row.get("unstruct_event"))
        inner = event.get("data") if isinstance(event, dict) else None
        data = inner.get("data") if isinstance(inner, dict) else None
        return dict(data) if isinstance(data, dict) else {}
    return {}


def _self_describing(value: Any) -> list[Any]:
    """The entities of a `contexts` field: the data of each, as the tracker attached them."""
    decoded = json_value(value)
    entities = decoded.get("data") if isinstance(decoded, dict) else None
    return [e.get("data") if isinstance(e, dict) else e for e in entities] if isinstance(entities, list) else []

