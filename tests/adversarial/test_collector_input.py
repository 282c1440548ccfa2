"""Collector bodies an attacker or a buggy SDK sends: refused at the door with the field named, or quarantined at
load; never a 5xx, and never a message that blocks the ones after it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accord.sources.collector import ingest_log
from accord.sources.collector_log import CollectorLog
from accord.workspace import Workspace

NOW = datetime.now(timezone.utc).isoformat()


def post(client, key: str, body: str | bytes):
    return client.post("/v1/batch", content=body, auth=(key, ""), headers={"Content-Type": "application/json"})


def nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def load(ws: Workspace) -> list:
    config = ws.config
    with ws.lake() as lake:
        ingest_log(lake, CollectorLog(ws.lake_path().parent / "collector"), config.name)
        events = {r["source_id"] for r in lake.query("SELECT source_id FROM event")}
        return [events, lake.query("SELECT entity, reason FROM quarantine ORDER BY source_row")]


def test_a_lone_surrogate_is_refused_naming_the_field(collector) -> None:
    client, ws, key = collector
    poison = post(client, key, '{"batch":[{"type":"identify","userId":"sur\\ud800x"}]}')
    assert poison.status_code == 400
    assert "batch[0].userId" in poison.json()["message"] and "Unicode" in poison.json()["message"]
    key_poison = post(client, key, '{"batch":[{"type":"page","userId":"u","properties":{"\\udc00":1}}]}')
    assert key_poison.status_code == 400
    fine = post(client, key, json.dumps({"batch": [{"type": "page", "userId": "u1", "messageId": "ok"}]}))
    assert fine.status_code == 200
    assert load(ws)[0] == {"ok"}


def test_a_poisoned_log_quarantines_the_message_and_loads_the_rest(collector) -> None:
    """A log written before the door checked (or edited by hand) must not block the lake either."""
    _, ws, _ = collector
    log = ws.lake_path().parent / "collector" / "collector.log.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        '{"receivedAt":"2026-11-20T10:00:00Z","batch":[{"type":"identify","userId":"sur\\ud800x"},'
        '{"type":"page","userId":"u1","messageId":"after"}]}\n'
        '{"receivedAt":"2026-11-20T10:00:00Z","batch":[{"type":"page","userId":"u2","messageId":"far",'
        '"timestamp":"9999-12-31T23:59:59-14:00"}]}\n'
        '{"receivedAt":"2026-11-20T10:00:00Z","batch":[{"type":"page","userId":"nul\\u0000","messageId":"nul"}]}\n'
        'not json at all\n'
        '{"receivedAt":"2026-11-20T10:00:00Z","batch":[{"type":"page","userId":"u3","messageId":"last"}]}\n'
    )
    events, quarantined = load(ws)
    assert events == {"after", "last"}
    assert [(q["entity"], q["reason"].split(":")[0]) for q in quarantined] == [
        ("person", "invalid_message"), ("event", "invalid_message"), ("event", "invalid_message"),
        ("event", "invalid_message")]
    assert "Unicode" in quarantined[0]["reason"] and "between 1900 and 2199" in quarantined[1]["reason"]
    assert "userId holds a control character (U+0000)" in quarantined[2]["reason"]
    assert load(ws)[0] == {"after", "last"}, "a second load changes nothing"


def test_instants_outside_the_accepted_years_are_refused(collector) -> None:
    client, _, key = collector
    for stamp in ("9999-12-31T23:59:59-14:00", "1899-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00"):
        answer = post(client, key, json.dumps({"batch": [{"type": "page", "userId": "u", "timestamp": stamp}]}))
        assert answer.status_code == 400, stamp
        assert "batch[0].timestamp" in answer.json()["message"] and "1900" in answer.json()["message"]
    edge = post(client, key, json.dumps({"batch": [{"type": "page", "userId": "u", "timestamp": "2199-12-31T23:59:59Z"}]}))
    assert edge.status_code == 200


def test_deep_nesting_is_a_400_at_any_depth(collector) -> None:
    client, _, key = collector
    for levels in (65, 990, 1030, 5000):
        body = '{"batch":[{"type":"track","userId":"u","event":"x","properties":' + nested(levels) + "}]}"
        answer = post(client, key, body)
        assert answer.status_code == 400, levels
        assert "nest" in answer.json()["message"]
    ok = post(client, key, '{"batch":[{"type":"track","userId":"u","event":"x","properties":' + nested(40) + "}]}")
    assert ok.status_code == 200


def test_the_same_message_id_twice_in_a_batch_keeps_the_first(collector) -> None:
    client, ws, key = collector
    first = {"type": "page", "userId": "u1", "messageId": "twice", "timestamp": NOW, "properties": {"url": "https://a/1"}}
    second = {**first, "properties": {"url": "https://a/2"}}
    assert post(client, key, json.dumps({"batch": [first, second]})).status_code == 200
    load(ws)
    with ws.lake() as lake:
        assert lake.query("SELECT url FROM event") == [{"url": "https://a/1"}]


TEXT = st.builds(lambda text, odd, at: text[:at] + odd + text[at:], st.text(max_size=20),
                 st.sampled_from(["", "", "\ud800", "\udfff", "\x00", "\u202e"]), st.integers(0, 20))
"""Any text, at times with a lone surrogate (json.dumps writes it as the \\udXXX escape a buggy client sends)."""
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=12) | st.integers(60, 70).map(lambda n: json.loads('{"a":' * n + "1" + "}" * n))
STAMPS = st.one_of(st.none(), st.datetimes(timezones=st.just(timezone.utc)).map(datetime.isoformat),
                   st.sampled_from(["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-02-30T00:00:00Z"]),
                   TEXT, st.integers())
NAMES = st.one_of(TEXT.filter(bool), st.integers(1))
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["identify", "track", "page", "screen", "group", "alias", "bogus"]), "userId": NAMES,
     "previousId": NAMES, "groupId": NAMES, "event": TEXT},
    optional={"anonymousId": TEXT, "messageId": TEXT, "timestamp": STAMPS, "properties": VALUES, "traits": VALUES,
              "context": VALUES},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(MESSAGES, min_size=1, max_size=4))
def test_fuzzed_bodies_get_a_4xx_or_load(collector, batch) -> None:
    """Invariant: every answer is 200 or 400; whatever was accepted loads into the lake, nothing is quarantined."""
    client, ws, key = collector
    answer = post(client, key, json.dumps({"batch": batch}))
    event(f"HTTP {answer.status_code}")
    assert load(ws)[1] == []


def test_a_type_that_is_a_list_or_an_object_is_refused_not_a_server_error(collector) -> None:
    client, ws, key = collector
    for kind in ("[]", '{"page": 1}', "[\"page\"]"):
        answer = post(client, key, '{"batch":[{"type":%s,"userId":"u1"}]}' % kind)
        assert answer.status_code == 400, kind
        assert "batch[0]: type must be one of" in answer.json()["message"]
    fine = post(client, key, json.dumps({"batch": [{"type": "page", "userId": "u1", "messageId": "ok"}]}))
    assert fine.status_code == 200
    assert load(ws)[0] == {"ok"}
