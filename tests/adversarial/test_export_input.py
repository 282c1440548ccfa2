"""Analytics exports as a buggy tool or an attacker writes them: every field of a GA4, Mixpanel, Amplitude or Segment
row may hold any JSON value. Loading them never fails: each line loads or is quarantined with why, and the file
is then known as loaded."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.lake.store import Lake
from accord.sources.message_archive import SHAPES, load_archive

FIELDS = {
    "segment": ["type", "messageId", "userId", "anonymousId", "previousId", "groupId", "event", "timestamp",
                "originalTimestamp", "sentAt", "receivedAt", "properties", "traits", "context"],
    "ga4": ["event_name", "event_timestamp", "user_pseudo_id", "user_id", "event_params", "geo", "device"],
    "mixpanel": ["event", "properties"],
    "amplitude": ["event_type", "event_time", "uuid", "$insert_id", "user_id", "device_id", "event_properties",
                  "user_properties", "country", "region", "city", "platform"],
    "posthog": ["uuid", "event", "properties", "distinct_id", "timestamp"],
    "snowplow": ["event", "event_id", "user_id", "domain_userid", "network_userid", "derived_tstamp",
                 "collector_tstamp", "page_url", "contexts", "unstruct_event", "se_category", "se_action", "se_value",
                 "event_name", "geo_country"],
}
"""The fields each shape reads."""
NESTED = {"properties": ["time", "distinct_id", "$user_id", "$device_id", "$insert_id", "$current_url",
                         "$anon_id", "$identified_id", "alias", "$city", "mp_country_code", "$is_identified",
                         "$anon_distinct_id", "$set", "$group_key", "$group_set", "$screen_name"],
          "event_params": ["key", "value"], "context": ["page", "consent", "location"]}
"""Fields whose value is itself read field by field."""
GOOD = {"type": st.sampled_from(["page", "track", "identify", "alias", "group", "screen"]),
        "event": st.sampled_from(["$mp_web_page_view", "$identify", "$create_alias", "Signed Up", "page_view",
                                  "struct", "unstruct", "page_ping", "$pageview", "$groupidentify", "$screen"]),
        "event_type": st.sampled_from(["[Amplitude] Page Viewed", "$identify", "Trial Started"]),
        "event_name": st.sampled_from(["page_view", "scroll"])}

texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "2026-11-20T10:00:00Z", "2026-11-20 10:00:00.123000", "9999-12-31T23:59:59-14:00", "\u202e", "\x00",
     "1790000000000000", "$device:d1"])
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False,
                                                                               allow_infinity=False) | texts
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                      max_leaves=8)


def row(shape: str) -> st.SearchStrategy[dict[str, Any]]:
    def field(name: str) -> st.SearchStrategy[Any]:
        inner = NESTED.get(name)
        nested = st.fixed_dictionaries({}, optional={k: values for k in inner}) if inner else st.nothing()
        return GOOD.get(name, st.nothing()) | nested | values
    return st.fixed_dictionaries({}, optional={name: field(name) for name in FIELDS[shape]})


@st.composite
def exports(draw: st.DrawFn) -> tuple[str, list[Any]]:
    shape = draw(st.sampled_from(sorted(SHAPES)))
    return shape, draw(st.lists(row(shape) if shape == "snowplow" else row(shape) | values, min_size=1, max_size=6))


def line(shape: str, written: Any) -> str:
    """A row as its export writes it: a JSON line, or Snowplow's tab-separated fields (its line breaks escaped)."""
    if shape != "snowplow":
        return json.dumps(written)
    from accord.sources.snowplow import FIELDS

    def field(value: Any) -> str:
        text = value if isinstance(value, str) else "" if value is None else json.dumps(value)
        return text.replace("\n", " ").replace("\r", " ")
    return "\t".join(field(written.get(name)) for name in FIELDS)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exports())
def test_any_export_row_loads_or_is_quarantined_and_never_stops_the_load(export: tuple[str, list[Any]]) -> None:
    shape, rows = export
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.jsonl"
        lines = [line(shape, r) for r in rows]
        path.write_text("".join(f"{text}\n" for text in lines), errors="surrogatepass")
        with Lake(Path(folder) / "lake.duckdb", migrate=True) as lake:
            report = load_archive(lake, [path], "probe", shape=shape)
            assert report.messages == sum(1 for text in lines if text.strip()), "a blank line holds no message"
            quarantined = {r[0] for r in lake.execute("SELECT DISTINCT source_row FROM quarantine").fetchall()}
            assert quarantined <= set(range(1, len(lines) + 1))
            assert all(r[0].startswith("invalid_message: line ") for r in
                       lake.execute("SELECT reason FROM quarantine").fetchall())
            assert load_archive(lake, [path], "probe", shape=shape).loaded_before == 1
