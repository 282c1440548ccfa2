"""What posthog-js and PostHog's server libraries send to a PostHog host (`/e/`, `/i/v0/e/`, `/capture/`,
`/batch/`), read as collector messages: a site or product measured with PostHog can send its events to Accord too.

posthog-js sends a JSON array of events, gzipped (`?compression=gzip-js`) or as a form field `data` (base64 with
`?compression=base64`); a server library sends `{"api_key": ..., "batch": [...]}` or one event. Each event carries
the project's token (`api_key`, or `token` among its properties): here, a collector write key."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from accord import fastjson
from accord.sources.collector import BadBatch, gunzipped
from accord.sources.export_rows import NotAnEvent
from accord.sources.posthog import posthog_message

CAPTURE_PATHS = ("/e/", "/i/v0/e/", "/capture/", "/batch/", "/track/")
"""Where PostHog's libraries send events (posthog-js the first two, server libraries the others)."""
SETTINGS = {"config": {"enable_collect_everything": False}, "featureFlags": {}, "featureFlagPayloads": {},
            "errorsWhileComputingFlags": False, "sessionRecording": False, "supportedCompression": ["gzip-js"],
            "autocapture_opt_out": True, "capturePerformance": False, "surveys": False, "heatmaps": False,
            "siteApps": [], "toolbarParams": {}, "isAuthenticated": False}
"""What `/decide/` (`/flags/`) answers posthog-js at start: no feature flags, no recordings, nothing to load."""


def captured(raw: bytes, compression: str, content_type: str, limit: int) -> tuple[list[dict[str, Any]], set[str]]:
    """The collector messages of one capture request, and the tokens its events carry; BadBatch naming what is
    wrong (a body it cannot read, an event that is none)."""
    body = _body(raw, compression, content_type, limit)
    token = body.get("api_key") or body.get("token") if isinstance(body, dict) else None
    events = body if isinstance(body, list) else body.get("batch") if isinstance(body, dict) and "batch" in body \
        else [body]
    if not isinstance(events, list) or not events:
        raise BadBatch("the body holds no events: a JSON array of them, {\"batch\": [...]}, or one event")
    messages, tokens = [], set()
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise BadBatch(f"event {i} is not a JSON object")
        props = event.get("properties") if isinstance(event.get("properties"), dict) else {}
        tokens.add(str(event.get("api_key") or props.get("token") or token or ""))
        row = {"uuid": event.get("uuid"), "event": event.get("event"), "properties": props,
               "distinct_id": event.get("distinct_id") or props.get("distinct_id"),
               "timestamp": event.get("timestamp") or datetime.now(timezone.utc).isoformat()}
        try:
            messages.append(posthog_message(row))
        except NotAnEvent as err:
            raise BadBatch(f"event {i}: {err}") from None
    return messages, tokens


def _body(raw: bytes, compression: str, content_type: str, limit: int) -> Any:
    """The request's JSON, out of the form field, the base64 and the gzip posthog-js may wrap it in."""
    if "application/x-www-form-urlencoded" in content_type:
        data = parse_qs(raw.decode("latin-1")).get("data", [""])[0]
        raw = data.encode("latin-1")
    if compression == "base64":
        try:
            raw = base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError) as err:
            raise BadBatch(f"the body is not base64: {err}") from None
    elif compression == "gzip-js":
        raw = gunzipped(raw, limit)
    elif compression not in ("", "none"):
        raise BadBatch(f"compression {compression!r} is not read here: set posthog-js's compression to gzip-js "
                       "(its default), or none")
    try:
        return fastjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadBatch(f"the body is not JSON: {err}") from None
