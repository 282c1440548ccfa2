"""The collector takes events as PostHog's libraries send them (posthog-js: a gzipped JSON array to `/e/`, or base64
in a form field; a server library: `{"api_key", "batch"}` to `/batch/`), the project token a write key, and answers a
browser's cross-origin requests; what it took loads as posthog-js's export would."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.workspace import Workspace
from tests.adversarial.conftest import new_workspace
from tests.adversarial.test_collector_input import load

T = "2026-10-05T09:00:00.000Z"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Workspace, str]]:
    ws, key = new_workspace(tmp_path / "ws")
    yield TestClient(create_app(ws)), ws, key


def browser_events(key: str) -> list[dict]:
    """What posthog-js batches: an anonymous page view, then the visitor signing in."""
    return [
        {"uuid": "0192a1b2-0000-7000-8000-000000000001", "event": "$pageview", "timestamp": T, "properties": {
            "token": key, "distinct_id": "dev-1", "$device_id": "dev-1", "$is_identified": False,
            "$current_url": "https://acme.com/pricing", "$pathname": "/pricing", "$lib": "web"}},
        {"uuid": "0192a1b2-0000-7000-8000-000000000002", "event": "$identify", "timestamp": T, "properties": {
            "token": key, "distinct_id": "crm-42", "$anon_distinct_id": "dev-1", "$device_id": "dev-1",
            "$set": {"email": "ann@acme.com"}}},
    ]


def test_posthog_js_batches_gzipped_or_as_base64_are_taken_and_load(served) -> None:
    client, ws, key = served
    gzipped = client.post("/e/?compression=gzip-js&ip=1&ver=1.180.0", headers={"Content-Type": "text/plain"},
                          content=gzip.compress(json.dumps(browser_events(key)).encode()))
    assert (gzipped.status_code, gzipped.json()) == (200, {"status": 1})
    later = {**browser_events(key)[0], "uuid": "0192a1b2-0000-7000-8000-000000000003"}
    form = client.post("/e/?compression=base64", headers={"Content-Type": "application/x-www-form-urlencoded"},
                       content=b"data=" + base64.b64encode(json.dumps([later]).encode()).replace(b"+", b"%2B"))
    assert form.status_code == 200, form.text
    server = client.post("/batch/", json={"api_key": key, "batch": [
        {"event": "Invoice Paid", "distinct_id": "crm-42", "properties": {"amount": 1200}, "timestamp": T}]})
    assert server.status_code == 200, server.text
    events, quarantined = load(ws)
    assert quarantined == [] and len(events) == 3, "two page views and a server's event; the identify is no event"
    with ws.lake() as lake:
        assert lake.query("SELECT event_type, url, person_key FROM event ORDER BY source_id")[:1] == [
            {"event_type": "web.pageview", "url": "https://acme.com/pricing",
             "person_key": f"anon:dev-1@{ws.config.name}.Collector"}]
        assert lake.scalar("SELECT count(*) FROM person WHERE email = 'ann@acme.com' AND user_id = 'crm-42'") == 1


@pytest.mark.parametrize(("path", "body", "status", "said"), [
    ("/e/", [{"event": "$pageview", "properties": {"token": "phc_not_a_key", "distinct_id": "d"}}], 401, "write key"),
    ("/e/?compression=lz64", "x", 400, "compression 'lz64' is not read here"),
    ("/e/?compression=gzip-js", "not gzip", 400, "not valid gzip"),
    ("/capture/", {"api_key": "KEY", "event": "", "distinct_id": "d"}, 400, "event 0"),
    ("/batch/", {"api_key": "KEY", "batch": []}, 400, "holds no events"),
])
def test_what_posthog_would_refuse_is_refused_in_one_line(served, path, body, status, said) -> None:
    client, _, key = served
    content = body if isinstance(body, str) else json.dumps(body).replace("KEY", key)
    answer = client.post(path, content=content.encode(), headers={"Content-Type": "text/plain"})
    assert answer.status_code == status and said in answer.json()["message"], answer.text


def test_a_browser_may_post_from_any_site_to_the_collector_only(served) -> None:
    client, _, key = served
    asked = client.options("/e/", headers={"Origin": "https://acme.com", "Access-Control-Request-Method": "POST"})
    assert asked.status_code == 204 and asked.headers["access-control-allow-origin"] == "https://acme.com"
    sent = client.post("/v1/track", auth=(key, ""), headers={"Origin": "https://acme.com"},
                       json={"userId": "u1", "event": "Signed Up"})
    assert sent.status_code == 200 and sent.headers["access-control-allow-origin"] == "https://acme.com"
    assert client.post("/decide/?v=3", content=b"{}").json()["featureFlags"] == {}
    api = client.get("/api/v1/audiences", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in api.headers
