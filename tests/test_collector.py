"""The collector: batch validation, mapping to records, durable log replayed idempotently into the lake."""

from __future__ import annotations

import json

import pytest

from accord import fastjson
from accord.identity.config import IdentityConfig
from accord.pipeline import run_identity
from accord.profiles.lookup import get_account, get_person
from accord.sources.collector import (
    BadBatch,
    ingest_log,
    to_records,
    validate_batch,
)
from accord.sources.collector_log import CollectorLog

T = "2026-11-20T10:00:00Z"
BATCH = [
    {"type": "page", "anonymousId": "a1", "messageId": "m1", "timestamp": T, "properties": {"url": "https://x.io/pricing"}},
    {"type": "identify", "anonymousId": "a1", "userId": "u1", "messageId": "m2", "timestamp": T,
     "traits": {"email": "Jane@Acme.com", "firstName": "Jane", "title": "CTO", "company": {"name": "Acme"}}},
    {"type": "group", "userId": "u1", "groupId": "g1", "messageId": "m3", "timestamp": T,
     "traits": {"name": "Acme Inc", "website": "https://www.acme.com", "industry": "Software", "employees": 120}},
    {"type": "track", "userId": "u1", "event": "Demo Requested", "messageId": "m4", "timestamp": T, "properties": {"plan": "pro"}},
    {"type": "alias", "previousId": "a9", "userId": "u1", "messageId": "m5", "timestamp": T},
]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "must be a JSON object"),
        ({"batch": []}, "non-empty list"),
        ({"batch": [{"type": "bogus", "userId": "u"}]}, "type must be one of"),
        ({"batch": [{"type": "track", "userId": "u"}]}, "needs an event name"),
        ({"batch": [{"type": "identify"}]}, "needs userId or anonymousId"),
        ({"batch": [{"type": "group", "userId": "u"}]}, "needs groupId"),
        ({"batch": [{"type": "alias", "userId": "u"}]}, "needs previousId and userId"),
        ({"batch": [{"type": "identify", "userId": "u", "traits": []}]}, "traits must be an object"),
        ({"batch": [{"type": "identify", "userId": "u", "timestamp": "yesterday"}]}, "not ISO 8601"),
        ({"batch": [{"type": "identify", "userId": "u", "traits": {"x": "y" * 40000}}]}, "larger than 32 KiB"),
        ({"batch": [{"type": "identify", "userId": "\u0000nul"}]}, r"batch\[0\].userId holds a control character \(U\+0000\)"),
        ({"batch": [{"type": "page", "anonymousId": "a\nb"}]}, r"anonymousId holds a control character \(U\+000A\)"),
        ({"batch": [{"type": "group", "userId": "u", "groupId": "g\u009b"}]}, r"groupId holds a control character"),
    ],
)
def test_bad_batches_are_refused_whole(body, says) -> None:
    with pytest.raises(BadBatch, match=says):
        validate_batch(body)


def test_messages_become_records() -> None:
    rows = to_records([{"receivedAt": T, "batch": BATCH}], "ws", {"Demo Requested": "web.formfill"}).rows
    assert {e["event_type"] for e in rows["event"]} == {"web.pageview", "web.formfill"}
    page = next(e for e in rows["event"] if e["source_id"] == "m1")
    assert page["person_key"] == "anon:a1@ws.Collector" and page["url"] == "https://x.io/pricing"
    jane = next(p for p in rows["person"] if p["source_id"] == "u1" and p.get("email"))
    assert (jane["email"], jane["company_name"], jane["anonymous_id"]) == ("Jane@Acme.com", "Acme", "a1")
    assert rows["account"][0]["domain"] == "acme.com"
    assert rows["account_person"][0]["account_key"] == "g1@ws.Collector"
    default = to_records([{"receivedAt": T, "batch": [BATCH[3]]}], "ws").rows["event"][0]
    assert default["event_type"] == "track.demo_requested"


def test_a_device_clock_that_is_off_is_corrected_by_when_the_batch_was_sent() -> None:
    """A phone a year ahead put its events in next year: no window held them until then, and then every one did."""
    ahead = {"type": "page", "anonymousId": "a1", "messageId": "m1", "timestamp": "2027-11-20T09:59:00Z",
             "properties": {"url": "https://x.io/pricing"}}
    messages = validate_batch({"batch": [dict(ahead)], "sentAt": "2027-11-20T10:00:00Z"})
    assert messages[0]["sentAt"] == "2027-11-20T10:00:00Z", "the batch's sentAt is each message's, in the log"
    event = to_records([{"receivedAt": T, "batch": messages}], "ws").rows["event"][0]
    assert event["timestamp"] == "2026-11-20T09:59:00+00:00"
    unsent = to_records([{"receivedAt": T, "batch": [{**ahead, "sentAt": None}]}], "ws").rows["event"][0]
    assert unsent["timestamp"] == "2027-11-20T09:59:00+00:00", "without sentAt the time is taken as sent"
    with pytest.raises(BadBatch, match=r"batch\[0\]\.sentAt 'now' is not ISO 8601"):
        validate_batch({"batch": [dict(ahead)], "sentAt": "now"})


def test_log_replay_is_idempotent_and_stitches(lake, tmp_path) -> None:
    log = CollectorLog(tmp_path / "collector")
    log.append(BATCH)
    log.append(BATCH)  # a client retry: the same messages again
    with log.path.open("a") as f:
        f.write('{"receivedAt": "torn')  # a crash mid-write
    ingest_log(lake, log, "ws")
    assert ingest_log(lake, log, "ws") == []
    assert lake.scalar("SELECT count(*) FROM event_current") == 2
    run_identity(lake, IdentityConfig())
    jane = get_person(lake, "email:jane@acme.com")
    assert ("user_id", "u1") in jane.identities and ("anonymous_id", "a1") in jane.identities
    assert ("anonymous_id", "a9") in jane.identities, "alias joins the earlier anonymous id"
    assert {e["event_type"] for e in jane.events} == {"web.pageview", "track.demo_requested"}
    assert jane.accounts[0]["account_id"] == get_account(lake, "domain:acme.com").account_id
    assert jane.attribute("job_title") == "CTO"


def test_overload_answers_429_with_retry_after(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from accord.api.app import create_app
    from accord.api.keys import create_key
    from accord.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    with ws.lake() as lake:
        key = create_key(lake, "write").secret
    app = create_app(ws, ingest_every=60)
    with TestClient(app) as client:
        assert client.post("/v1/batch", json={"batch": BATCH}, auth=(key, "")).status_code == 200
        app.state.accord.log.max_waiting = 0
        busy = client.post("/v1/batch", json={"batch": BATCH}, auth=(key, ""))
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
        assert client.get("/health").json()["sandbox"] == "prod"


def test_events_of_known_people_store_no_person_versions(lake, tmp_path) -> None:
    """A later event of an identified (or already seen) person changes no record, so it sets off no identity run."""
    log = CollectorLog(tmp_path / "collector")
    log.append(BATCH)
    ingest_log(lake, log, "ws")
    log.append([{"type": "page", "userId": "u1", "messageId": "p1", "timestamp": T},
                {"type": "page", "anonymousId": "a1", "messageId": "p2", "timestamp": T},
                {"type": "page", "userId": "u1", "anonymousId": "a1", "messageId": "p3", "timestamp": T}])
    later = {r.entity: r for r in ingest_log(lake, log, "ws")}
    assert later["event"].loaded == 3
    assert "person" not in later, "u1 has a timed identify version; anon:a1 and the u1–a1 link are known"
    log.append([{"type": "page", "userId": "u1", "anonymousId": "a2", "messageId": "p5", "timestamp": T}])
    assert {r.entity: r.loaded for r in ingest_log(lake, log, "ws")} == {"person": 1, "event": 1}, "a new u1–a2 link"
    log.append([{"type": "page", "userId": "u7", "messageId": "p4", "timestamp": T}])
    newcomer = {r.entity: r for r in ingest_log(lake, log, "ws")}
    assert newcomer["person"].loaded == 1, "a person never seen is stored"


def test_a_second_device_keeps_the_first(lake, tmp_path) -> None:
    """Signing in on a new device adds its anonymous history; the first device's stays."""
    log = CollectorLog(tmp_path / "collector")
    log.append([
        {"type": "page", "anonymousId": "a1", "messageId": "m1", "timestamp": "2026-11-20T10:00:00Z"},
        {"type": "identify", "anonymousId": "a1", "userId": "u1", "messageId": "m2", "timestamp": "2026-11-20T10:01:00Z",
         "traits": {"email": "jane@acme.com"}},
    ])
    ingest_log(lake, log, "ws")
    run_identity(lake, IdentityConfig())
    log.append([
        {"type": "page", "anonymousId": "a2", "messageId": "m3", "timestamp": "2026-11-21T10:00:00Z"},
        {"type": "identify", "anonymousId": "a2", "userId": "u1", "messageId": "m4", "timestamp": "2026-11-21T10:01:00Z",
         "traits": {"email": "jane@acme.com", "title": "CTO"}},
    ])
    ingest_log(lake, log, "ws")
    run_identity(lake, IdentityConfig())
    jane = get_person(lake, "email:jane@acme.com")
    assert ("anonymous_id", "a1") in jane.identities and ("anonymous_id", "a2") in jane.identities
    assert len([e for e in jane.events if e["event_type"] == "web.pageview"]) == 2, "both devices' visits"


def test_an_events_context_lands_under_its_properties() -> None:
    message = {"type": "track", "userId": "u1", "event": "Clicked", "messageId": "c1", "timestamp": T,
               "properties": {"plan": "pro"}, "context": {"campaign": {"name": "Q4 Launch"}, "ip": "1.2.3.4"}}
    row = to_records([{"receivedAt": T, "batch": [message]}], "ws").rows["event"][0]
    assert json.loads(row["properties"]) == {"plan": "pro", "context": {"campaign": {"name": "Q4 Launch"}, "ip": "1.2.3.4"}}
    own = {**message, "messageId": "c2", "properties": {"context": "mine"}}
    mine = to_records([{"receivedAt": T, "batch": [own]}], "ws").rows["event"][0]
    assert json.loads(mine["properties"]) == {"context": "mine"}, "a property named context is the sender's"


@pytest.mark.parametrize(("message", "says"), [
    ({"type": "identify", "userId": ["a"]}, "batch[0].userId must be a text or a number, not a list"),
    ({"type": "identify", "anonymousId": {"id": 1}}, "batch[0].anonymousId must be a text or a number, not an object"),
    ({"type": "group", "userId": "u", "groupId": True},
     "batch[0].groupId must be a text or a number, not true or false"),
    ({"type": "identify", "userId": float("nan")}, "batch[0].userId must be a text or a number, not nan"),
])
def test_an_id_that_is_no_text_or_number_is_refused_at_the_door(message, says) -> None:
    """A list as userId became `['a']` in the record's key and `["a"]` in its identity."""
    with pytest.raises(BadBatch) as refused:
        validate_batch(message)
    assert str(refused.value) == says


def test_long_numeric_ids_stay_exact_and_apart(lake, tmp_path) -> None:
    """Two userIds past 64 bits that differ in their last digit: read as floats (orjson's way) both became
    1.2345678901234568e+22, and the two users one profile."""
    body = (b'{"batch": [{"type": "identify", "userId": 12345678901234567890123, "traits": {"email": "a@x.io"}},'
            b' {"type": "identify", "userId": 12345678901234567890124, "traits": {"email": "b@x.io"}}]}')
    log = CollectorLog(tmp_path / "collector")
    log.append(validate_batch(fastjson.loads(body)))
    ingest_log(lake, log, "ws")
    run_identity(lake, IdentityConfig())
    first, second = get_person(lake, "email:a@x.io"), get_person(lake, "email:b@x.io")
    assert first.person_id != second.person_id
    assert ("user_id", "12345678901234567890123") in first.identities
    assert ("user_id", "12345678901234567890124") in second.identities


@pytest.mark.parametrize("text", [b'{"n": 12345678901234567890123}', '{"n": -9223372036854775809}',
                                  b'{"s": "12345678901234567890123", "n": 18446744073709551616}'])
def test_json_integers_read_exactly_however_long(text: bytes | str) -> None:
    assert fastjson.loads(text) == json.loads(text)
    assert all(isinstance(v, (int, str)) for v in fastjson.loads(text).values())
