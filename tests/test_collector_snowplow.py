"""The collector takes events as Snowplow's trackers send them (the tracker protocol: a `payload_data` JSON posted to
`/com.snowplowanalytics.snowplow/tp2`, or one event as a pixel request's query), the tracker's app id a write key;
what it took loads as the enriched events would, the tracker's clock corrected as Snowplow corrects it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.workspace import Workspace
from tests.adversarial.conftest import new_workspace
from tests.adversarial.test_collector_input import load

PAYLOAD = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
TP2 = "/com.snowplowanalytics.snowplow/tp2"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Workspace, str]]:
    ws, key = new_workspace(tmp_path / "ws")
    yield TestClient(create_app(ws)), ws, key


def encoded(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def browser_events(key: str, clock: datetime) -> list[dict]:
    """What the JavaScript tracker posts (every value a string): a page view from a campaign, a self-describing
    sign-up base64-encoded with a context, and a structured event, from a device whose clock is `clock`."""
    common = {"aid": key, "p": "web", "tv": "js-3.24.0", "tna": "sp1", "duid": "d-85094061", "vid": "3",
              "sid": "be9520e7", "lang": "en-GB", "res": "1440x900", "dtm": millis(clock), "stm": millis(clock),
              "ua": "Mozilla/5.0"}
    signed_up = {"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                 "data": {"schema": "iglu:com.acme/signed_up/jsonschema/1-0-0", "data": {"plan": "team"}}}
    contexts = {"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
                "data": [{"schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
                          "data": {"id": "a86c42e5"}}]}
    return [
        {**common, "e": "pv", "eid": "5a305bf5-0000-4000-8000-000000000001",
         "url": "https://acme.com/pricing?utm_source=linkedin&utm_campaign=q4-launch", "page": "Pricing",
         "refr": "https://www.linkedin.com/"},
        {**common, "e": "ue", "eid": "5a305bf5-0000-4000-8000-000000000002", "uid": "crm-42",
         "url": "https://acme.com/signup", "ue_px": encoded(signed_up), "cx": encoded(contexts)},
        {**common, "e": "se", "eid": "5a305bf5-0000-4000-8000-000000000003", "uid": "crm-42",
         "se_ca": "pricing", "se_ac": "compare", "se_la": "team", "se_va": "3"},
    ]


def test_a_trackers_posts_and_pixels_are_taken_and_load_as_enriched_events(served) -> None:
    client, ws, key = served
    now = datetime.now(timezone.utc)
    answer = client.post(TP2, json={"schema": PAYLOAD, "data": browser_events(key, now)},
                         headers={"Origin": "https://acme.com"})
    assert (answer.status_code, answer.text) == (200, "ok")
    assert answer.headers["access-control-allow-origin"] == "https://acme.com"
    assert answer.headers["access-control-allow-credentials"] == "true", "the tracker sends with credentials"
    anonymous = {"e": "pv", "aid": key, "eid": "5a305bf5-0000-4000-8000-000000000004", "sid": "s-77",
                 "url": "https://acme.com/docs", "dtm": millis(now)}  # anonymous tracking: a session, no user ids
    pixel = client.get("/i?" + urlencode(anonymous))
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert pixel.content.startswith(b"GIF89a")
    events, quarantined = load(ws)
    assert quarantined == [] and len(events) == 4
    with ws.lake() as lake:
        rows = lake.query("SELECT event_type, url, person_key, properties FROM event ORDER BY source_id")
        person = lake.query("SELECT DISTINCT user_id, anonymous_id FROM person WHERE user_id = 'crm-42'")
    assert [r["event_type"] for r in rows] == ["web.pageview", "track.signed_up", "track.pricing_compare",
                                               "web.pageview"]
    assert rows[0]["url"].startswith("https://acme.com/pricing")
    assert rows[0]["person_key"].startswith("anon:d-85094061@")
    assert rows[3]["person_key"].startswith("anon:s-77@"), "an anonymous visitor's events are kept by session"
    assert json.loads(rows[1]["properties"])["plan"] == "team"
    assert json.loads(rows[1]["properties"])["contexts"] == [{"id": "a86c42e5"}]
    structured = json.loads(rows[2]["properties"])
    assert {k: structured[k] for k in ("category", "action", "label", "value")} == {
        "category": "pricing", "action": "compare", "label": "team", "value": "3"}
    assert json.loads(rows[0]["properties"])["context"]["campaign"] == {"source": "linkedin", "name": "q4-launch"}
    assert person == [{"user_id": "crm-42", "anonymous_id": "d-85094061"}], "the signed-in events tie the visitor"


def test_a_device_clock_that_runs_ahead_is_corrected_as_snowplow_derives_its_time(served) -> None:
    client, ws, key = served
    ahead = datetime.now(timezone.utc) + timedelta(days=1)
    event = {**browser_events(key, ahead)[0], "dtm": millis(ahead - timedelta(minutes=5)), "stm": millis(ahead)}
    true_time = {**browser_events(key, ahead)[0], "eid": "5a305bf5-0000-4000-8000-000000000009",
                 "ttm": "1764583200000"}
    assert client.post(TP2, json={"schema": PAYLOAD, "data": [event, true_time]}).status_code == 200
    load(ws)
    with ws.lake() as lake:
        stamps = [r["timestamp"] for r in lake.query('SELECT "timestamp" FROM event ORDER BY source_id')]
    created = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert abs(stamps[0] - created) < timedelta(minutes=1), "five minutes before it was sent, by the server's clock"
    assert stamps[1] == datetime(2025, 12, 1, 10, 0, tzinfo=timezone.utc), "a true timestamp is taken as it is"


@pytest.mark.parametrize(("body", "status", "said"), [
    ({"schema": PAYLOAD, "data": [{"e": "pv", "aid": "not-a-key"}]}, 401, "appId"),
    ({"data": [{"e": "pv", "aid": "KEY"}]}, 400, "payload_data"),
    ({"schema": PAYLOAD, "data": []}, 400, "holds no events"),
    ({"schema": PAYLOAD, "data": [{"e": "zz", "aid": "KEY"}]}, 400, "e 'zz' is no Snowplow event"),
    ({"schema": PAYLOAD, "data": [{"e": ["pv"], "aid": "KEY"}]}, 400, "e ['pv'] is no Snowplow event"),
    ({"schema": PAYLOAD, "data": [{"e": "ue", "aid": "KEY", "ue_px": "%%%"}]}, 400, "ue_px is not"),
    ({"schema": PAYLOAD, "data": [{"e": "ue", "aid": "KEY"}]}, 400, "ue_pr or ue_px is missing"),
    ({"schema": PAYLOAD, "data": [{"e": "pv", "aid": "KEY", "dtm": "yesterday"}]}, 400, "dtm 'yesterday'"),
    ({"schema": PAYLOAD, "data": [{"e": "pv", "aid": "KEY"}]}, 400, "needs userId or anonymousId"),
    ({"schema": PAYLOAD, "data": [{"e": "pv", "aid": "KEY", "sid": "s", "ttm": "99999999999999"}]}, 400,
     "batch[0].timestamp"),
])
def test_what_a_snowplow_collector_would_refuse_is_refused_in_one_line(served, body, status, said) -> None:
    client, ws, key = served
    answer = client.post(TP2, content=json.dumps(body).replace("KEY", key).encode(),
                         headers={"Content-Type": "application/json; charset=UTF-8"})
    assert answer.status_code == status and said in answer.json()["message"], answer.text
    assert load(ws) == [set(), []], "nothing of a refused request is kept"


def test_a_browser_preflight_to_the_tracker_path_is_answered_with_credentials(served) -> None:
    client, _, _ = served
    asked = client.options(TP2, headers={"Origin": "https://acme.com", "Access-Control-Request-Method": "POST",
                                         "Access-Control-Request-Headers": "content-type"})
    assert asked.status_code == 204
    assert asked.headers["access-control-allow-origin"] == "https://acme.com"
    assert asked.headers["access-control-allow-credentials"] == "true"
    assert "Content-Type" in asked.headers["access-control-allow-headers"]
    assert "access-control-allow-origin" not in client.get("/images", headers={"Origin": "https://x.io"}).headers


@pytest.mark.browser
def test_a_page_on_another_site_sends_as_the_tracker_does_from_a_real_browser(tmp_path: Path) -> None:
    """Chromium posts as the JavaScript tracker does (JSON, with credentials, so preflighted) from a page of another
    origin (`localhost` against `127.0.0.1`), and loads a pixel: a browser takes neither answer when the collector allows `*` with credentials."""
    from playwright.sync_api import sync_playwright

    from tests.test_serve import Server
    from tests.test_web import CHROMIUM, need_chromium

    need_chromium()
    ws, key = new_workspace(tmp_path / "ws")
    server = Server(ws.root)
    now = datetime.now(timezone.utc)
    body = {"schema": PAYLOAD, "data": browser_events(key, now)[:1]}
    pixel = "/i?" + urlencode({"e": "pv", "aid": key, "eid": "px-1", "duid": "d-1", "url": "https://acme.test/x",
                               "dtm": millis(now)})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(server.url.replace("127.0.0.1", "localhost") + "/login")  # another origin, on this machine
            sent = page.evaluate("""async ([url, body]) => {
                const answer = await fetch(url, {method: "POST", credentials: "include", body,
                                                 headers: {"Content-Type": "application/json; charset=UTF-8"}});
                return [answer.status, await answer.text()];
            }""", [server.url + TP2, json.dumps(body)])
            loaded = page.evaluate("""(src) => new Promise(done => {
                const image = new Image(); image.onload = () => done(image.width); image.onerror = () => done(-1);
                image.src = src;
            })""", server.url + pixel)
            browser.close()
    finally:
        server.stop()
    assert sent == [200, "ok"] and loaded == 1
    assert len(load(ws)[0]) == 2
