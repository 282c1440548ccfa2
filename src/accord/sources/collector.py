"""The collector source (Segment HTTP Tracking API): validate batches, keep them in a durable log, map them to records.

A batch is checked whole before it is accepted (nothing half-applied), appended to an append-only log and fsync'd
before the caller hears 200, and later replayed into the lake; replays are idempotent (events are keyed by
messageId, people and accounts by their ids).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord import fastjson
from accord.ingest.limits import MAX_DEPTH, json_problem
from accord.ingest.loader import IngestResult
from accord.ingest.records import as_text, ingest_records
from accord.lake.store import Lake, latest_view_sql, now
from accord.model.domains import web_domain
from accord.model.entities import PERSON
from accord.model.times import (
    EARLIEST,
    LATEST,
    RANGE_TEXT,
    InstantOutOfRange,
    parse_instant,
)
from accord.sources.base import MalformedRow
from accord.sources.collector_log import LOG_NAME, CollectorLog

TYPES = {"identify", "track", "page", "screen", "group", "alias"}
MAX_MESSAGE_BYTES = 32 * 1024
SOURCE_TYPE = "Collector"


class BadBatch(ValueError):
    """A batch the collector refuses whole, with a reason for the caller."""


def gunzipped(raw: bytes, limit: int) -> bytes:
    """A gzipped request body, decoded no further than `limit` bytes (a few kB can inflate to gigabytes); BadBatch
    when it is no gzip or inflates past the limit."""
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflater.decompress(raw, limit)
    except zlib.error as err:
        raise BadBatch(f"the body is not valid gzip: {err}") from None
    if inflater.unconsumed_tail:
        raise BadBatch(f"the decoded body is larger than {limit >> 20} MiB")
    return out


def validate_batch(body: Any, body_bytes: int | None = None) -> list[dict[str, Any]]:
    """The messages of a `/v1/batch` body (or of a single-call body), or BadBatch naming the first problem.

    `body_bytes`, the size of the decoded body, spares measuring each message when the whole is small enough.
    """
    if not isinstance(body, dict):
        raise BadBatch("the body must be a JSON object")
    messages = body.get("batch") if "batch" in body else [body]
    if not isinstance(messages, list) or not messages:
        raise BadBatch("'batch' must be a non-empty list of messages")
    out = []
    for i, message in enumerate(messages):
        where = f"batch[{i}]"
        if isinstance(message, dict) and "sentAt" in body and "sentAt" not in message:
            message["sentAt"] = body["sentAt"]  # the batch's, as Segment's API reads it: the log keeps it
        if isinstance(message, dict) and (body_bytes is None or body_bytes > MAX_MESSAGE_BYTES) \
                and len(fastjson.dumps(message)) > MAX_MESSAGE_BYTES:
            raise BadBatch(f"{where} is larger than 32 KiB")
        if problem := message_refusal(message, where):
            raise BadBatch(problem)
        out.append(message)
    # One pass over the whole batch (a message is level 2 of it): text and nesting the lake could not keep.
    if problem := json_problem(out, "batch", MAX_DEPTH + 1):
        raise BadBatch(problem)
    return out


def message_refusal(message: Any, where: str) -> str | None:
    """Why the collector refuses a message, whatever the batch around it (its type, the ids and fields its type
    needs, its times and ids), or None."""
    if not isinstance(message, dict):
        return f"{where} is not a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in TYPES:  # a list or an object is no type (and cannot be looked up)
        return f"{where}: type must be one of {', '.join(sorted(TYPES))}, not {kind!r}"
    if kind == "alias":
        if not message.get("previousId") or not message.get("userId"):
            return f"{where}: alias needs previousId and userId"
    elif not message.get("userId") and not message.get("anonymousId"):
        return f"{where}: {kind} needs userId or anonymousId"
    if kind == "group" and not message.get("groupId"):
        return f"{where}: group needs groupId"
    if kind == "track" and not isinstance(message.get("event"), str):
        return f"{where}: track needs an event name"
    for key in ("traits", "properties", "context"):
        if key in message and not isinstance(message[key], dict):
            return f"{where}: {key} must be an object"
    return _time_problem(message, where) or _id_problem(message, where)


def message_problem(message: dict[str, Any], where: str) -> str | None:
    """Why a message the lake could not keep is refused (nesting, invalid text, a time out of range, an id that is
    no text), or None."""
    return json_problem(message, where) or _time_problem(message, where) or _id_problem(message, where)


IDS = ("userId", "anonymousId", "previousId", "groupId")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _id_problem(message: dict[str, Any], where: str) -> str | None:
    """An id is text, or a number (as some Segment libraries send one): a list or an object names no one, and
    would be read one way into a record's key and another into its identities. A control character in an id is
    no one's either, and would go on to every destination's files and calls."""
    for key in IDS:
        value = message.get(key)
        if isinstance(value, str):
            if (found := _CONTROL.search(value)) is not None:
                return f"{where}.{key} holds a control character (U+{ord(found.group()):04X})"
            continue
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and math.isfinite(value)):
            continue
        kind = {dict: "an object", list: "a list", bool: "true or false"}.get(type(value), repr(value))
        return f"{where}.{key} must be a text or a number, not {kind}"
    return None


def _time_problem(message: dict[str, Any], where: str) -> str | None:
    for key in ("timestamp", "sentAt"):
        stamp = message.get(key)
        if stamp is None:
            continue
        if not isinstance(stamp, str):
            return f"{where}.{key} must be an ISO 8601 text"
        try:
            parse_instant(stamp)
        except InstantOutOfRange:
            return f"{where}.{key} {stamp!r} is not {RANGE_TEXT}"
        except ValueError:
            return f"{where}.{key} {stamp!r} is not ISO 8601"
    return None


@dataclass
class Records:
    """Canonical rows by entity, as text, ready for an identity mapping."""

    rows: dict[str, list[dict[str, str | None]]]


def to_records(entries: list[dict[str, Any]], instance: str, track_events: dict[str, str] | None = None) -> Records:
    """Map logged batches to canonical person, account, account_person and event rows."""
    rows: dict[str, list[dict[str, str | None]]] = defaultdict(list)
    names = dict(track_events or {})
    timeless: dict[tuple[str | None, ...], dict[str, str | None]] = {}
    stamps: dict[tuple[Any, Any, Any], str | None] = {}
    events: set[str | None] = set()

    def add_timeless(key: tuple[str | None, ...], build: Callable[[], dict[str, str | None]]) -> None:
        # Many events of one person in a log segment carry the same timeless row: its last copy says it all (and,
        # timeless, it ranks below every timed row whatever its place).
        timeless[key] = timeless.pop(key, None) or build()

    def iso(m: dict[str, Any], received: Any) -> str | None:
        key = (m.get("timestamp"), m.get("sentAt"), received)  # a batch's messages often share all three
        if key not in stamps:
            at = message_time(m, received)
            stamps[key] = at.isoformat() if at else None
        return stamps[key]

    for entry in entries:
        received = entry.get("receivedAt")
        for m in entry["batch"]:
            when = iso(m, received)
            person = _person_id(m)
            user, anonymous = message_ids(m)
            kind = m["type"]
            traits = m.get("traits") or {}
            if kind == "identify":
                rows["person"].append(_person_row(person, m, traits, when))
            elif kind == "alias":
                rows["person"].append({"source_id": f"alias:{m['previousId']}", "user_id": str(m["userId"]),
                                       "anonymous_id": str(m["previousId"]), "source_updated_at": when})
            elif kind == "group":
                group = str(m["groupId"])
                website = traits.get("website")
                rows["account"].append({
                    "source_id": group, "name": as_text(traits.get("name")), "website": as_text(website),
                    "domain": as_text(traits.get("domain")) or web_domain(as_text(website)), "industry": as_text(traits.get("industry")),
                    "employees": as_text(traits.get("employees")), "account_type": as_text(traits.get("plan")),
                    "source_updated_at": when,
                })
                rows["account_person"].append({
                    "source_id": f"{group}:{person}", "account_key": f"{group}@{instance}.{SOURCE_TYPE}",
                    "person_key": person_key(m, instance), "source_updated_at": when,
                })
                add_timeless((person, user, anonymous), lambda: _minimal_person(person, user, anonymous))
            elif collects(m):
                row = event_row(m, when, instance, names)
                if row["source_id"] in events:  # a retry within the stretch: the first copy wins, as in the lake
                    continue
                events.add(row["source_id"])
                rows["event"].append(row)
                add_timeless((person, user, anonymous), lambda: _minimal_person(person, user, anonymous))
            if kind != "alias" and user and anonymous:
                add_timeless((f"alias:{anonymous}", user, anonymous), lambda: _id_link(m))
            stated = segment_consent(m) if kind not in ("identify", "alias") else None
            if stated:
                rows["person"].append(_consent_row(person, user, anonymous, stated, consent_reason(m), when))
    if timeless:
        rows["person"].extend(timeless.values())
    return Records(dict(rows))


def message_ids(m: dict[str, Any]) -> tuple[str | None, str | None]:
    """The userId and anonymousId a message's person records carry, as text."""
    return as_text(m.get("userId")), as_text(m.get("anonymousId"))


def consent_reason(m: dict[str, Any]) -> str:
    """Why a message's record states a consent: the event (or message type) that carried `context.consent`."""
    return f"{m.get('event') or m['type']}: context.consent"


def event_row(m: dict[str, Any], when: str | None, instance: str, names: dict[str, str]) -> dict[str, str | None]:
    """The event row of a track, page or screen message (`names` maps track event names to event types)."""
    event_type, url = event_fields(m, names)
    return {
        "source_id": event_id(m), "event_type": event_type, "timestamp": when,
        "person_key": person_key(m, instance), "anonymous_id": as_text(m.get("anonymousId")),
        "url": url, "properties": fastjson.dumps(event_properties(m)),
    }


def event_properties(m: dict[str, Any]) -> dict[str, Any]:
    """What an event keeps as its properties: the message's `properties`, and its `context` (page, campaign,
    device ...) under `context` unless a property of that name exists."""
    props = m.get("properties") or {}
    if not m.get("context") or "context" in props:
        return props
    return {**props, "context": m["context"]}


def event_fields(m: dict[str, Any], names: dict[str, str]) -> tuple[str, str | None]:
    """The event type and URL of a track, page or screen message."""
    if m["type"] == "track":
        event_type = names.get(m["event"]) or names.setdefault(m["event"], _track_type(m["event"]))
    else:
        event_type = "web.pageview" if m["type"] == "page" else "app.screenview"
    props = m.get("properties") or {}
    return event_type, as_text(props.get("url") or ((m.get("context") or {}).get("page") or {}).get("url"))


def event_id(m: dict[str, Any]) -> str:
    """The source id of a message's event: its messageId (or a hash of the message without one)."""
    return str(m.get("messageId") or message_hash(m))


def person_key(m: dict[str, Any], instance: str) -> str:
    """The source key of the person record a message belongs to."""
    return source_key(_person_id(m), instance)


def source_key(source_id: str, instance: str) -> str:
    """A collector record's key in the lake, as the loader forms it."""
    return f"{source_id}@{instance}.{SOURCE_TYPE}"


STRETCH_BYTES = 64 * 1024 * 1024
"""The most of the log loaded at once: a store far behind it (after its cycle failed for hours while the collector
took events) catches up stretch by stretch, in bounded memory."""


def ingest_log(lake: Lake, log: CollectorLog, instance: str, track_events: dict[str, str] | None = None,
               until: int | None = None) -> list[IngestResult]:
    """Load what the log holds beyond the stored cursor (and before `until`), a stretch at a time; safe to repeat
    after a crash (loads are idempotent)."""
    results: list[IngestResult] = []
    while True:
        offset = log.loaded = loaded_offset(lake)
        entries, new_offset = log.read_from(offset, until, STRETCH_BYTES)
        if new_offset == offset:
            return results
        results += _load_stretch(lake, log, entries, (offset, new_offset), instance, track_events)


def _load_stretch(lake: Lake, log: CollectorLog, entries: list[dict[str, Any]], stretch: tuple[int, int],
                  instance: str, track_events: dict[str, str] | None) -> list[IngestResult]:
    """Load the entries the log holds between two offsets (blank lines hold none), and move the cursor past them."""
    entries, refused = _screen(entries)
    records = to_records(entries, instance, track_events)
    if records.rows.get("person"):
        records.rows["person"] = without_known_people(lake, records.rows["person"], instance)
    offset, new_offset = stretch
    digest = hashlib.sha256(f"{LOG_NAME}:{offset}:{new_offset}".encode()).hexdigest()
    results = []
    for entity in ("account", "person", "account_person", "event"):
        rows = records.rows.get(entity, [])
        if rows or refused.get(entity):
            results.append(ingest_records(lake, entity, rows, source_type=SOURCE_TYPE, source_instance_id=instance,
                                          source_name=f"{log.path}@{offset}", fingerprint=digest,
                                          malformed=refused.get(entity)))
    lake.execute("INSERT INTO collector_offsets VALUES (?, ?, ?)", [LOG_NAME, new_offset, now()])
    # Only the newest is read; under `serve` a stretch loads every few seconds, and each cycle reads the cursor.
    lake.execute("DELETE FROM collector_offsets WHERE offset_bytes < ?", [new_offset])
    return results


def loaded_offset(lake: Lake) -> int:
    """How far the store has loaded its sandbox's collector log. A store has one log, so the cursor does not
    depend on how the workspace's path was written when it was opened (stores before this named it by that path,
    and a workspace opened by another path replayed the whole log)."""
    return int(lake.scalar("SELECT max(offset_bytes) FROM collector_offsets") or 0)


def _screen(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[MalformedRow]]]:
    """The logged messages the lake can keep, and the others as quarantine rows by entity (numbered by their place
    in this stretch of the log). Messages are checked at the door; this keeps a log written before a check existed
    from blocking the messages after it."""
    refused: dict[str, list[MalformedRow]] = defaultdict(list)
    messages = [m for entry in entries for m in entry["batch"]]
    if not any("unreadable" in e for e in entries) and json_problem(messages, "", MAX_DEPTH + 1) is None \
            and all(isinstance(m, dict) and _time_problem(m, "") is None and _id_problem(m, "") is None
                    for m in messages):
        return entries, refused  # the usual case: one pass over the stretch, nothing to take out
    kept: list[dict[str, Any]] = []
    number = 0
    for entry in entries:
        if "unreadable" in entry:
            number += 1
            refused["event"].append(MalformedRow(number, entry["unreadable"],
                                                 "invalid_message: the log line is not JSON"))
            continue
        good = []
        for m in entry["batch"]:
            number += 1
            problem = message_problem(m, f"message {number}") if isinstance(m, dict) else "not a JSON object"
            if problem is None:
                good.append(m)
            else:
                refused[refused_entity(m)].append(MalformedRow(number, shown_message(m), f"invalid_message: {problem}"))
        kept.append({**entry, "batch": good})
    return kept, refused


def refused_entity(message: Any) -> str:
    """The entity a refused message is quarantined under: the one its type would have made."""
    kind = message.get("type") if isinstance(message, dict) else None
    if not isinstance(kind, str):  # a list or an object is no type
        return "event"
    return {"identify": "person", "alias": "person", "group": "account"}.get(kind, "event")


def shown_message(message: Any) -> str:
    """A refused message as quarantine keeps it: JSON with non-ASCII escaped (lone surrogates included)."""
    try:
        return json.dumps(message)
    except (RecursionError, ValueError):
        return "(nested too deeply to show; the collector log keeps it whole)"


def without_known_people(lake: Lake, rows: list[dict[str, str | None]], instance: str) -> list[dict[str, str | None]]:
    """Drop the timeless person rows events carry when they would change nothing: the key's latest version has a
    time (a timeless row never outranks it) or the same ids. Else each event of a known person stores a version and
    sets off an identity run."""
    minimal = {r["source_id"] for r in rows if "source_updated_at" not in r}
    if not minimal:
        return rows
    lake.execute("CREATE OR REPLACE TEMP TABLE _event_people AS SELECT unnest(?::VARCHAR[]) AS source_key",
                 [[f"{k}@{instance}.{SOURCE_TYPE}" for k in minimal]])
    latest = {
        source_id: (stamped, user, anonymous)
        for source_id, stamped, user, anonymous in lake.execute(
            f"SELECT source_id, source_updated_at IS NOT NULL, user_id, anonymous_id "
            f"FROM ({latest_view_sql(PERSON, 'SELECT source_key FROM _event_people')}) WHERE NOT is_deleted"
        ).fetchall()
    }

    def redundant(row: dict[str, str | None]) -> bool:
        known = latest.get(row["source_id"]) if "source_updated_at" not in row else None
        return known is not None and (known[0] or (known[1], known[2]) == (row.get("user_id"), row.get("anonymous_id")))

    return [r for r in rows if not redundant(r)]


def _track_type(event: str) -> str:
    return "track." + re.sub(r"[^a-z0-9]+", "_", event.lower()).strip("_")


def _person_id(m: dict[str, Any]) -> str:
    return str(m["userId"]) if m.get("userId") else f"anon:{m.get('anonymousId') or m.get('previousId')}"


def _person_row(person: str, m: dict[str, Any], traits: dict[str, Any], when: str | None) -> dict[str, str | None]:
    company = traits.get("company")
    return {
        "source_id": person, "user_id": as_text(m.get("userId")), "anonymous_id": as_text(m.get("anonymousId")),
        "email": as_text(traits.get("email")), "first_name": as_text(traits.get("firstName") or traits.get("first_name")),
        "last_name": as_text(traits.get("lastName") or traits.get("last_name")), "job_title": as_text(traits.get("title")),
        "phone": as_text(traits.get("phone")),
        "company_name": as_text(company.get("name") if isinstance(company, dict) else company),
        **segment_consent(m),
        **_stated(traits.get("marketingConsent", traits.get("consent"))),
        "source_updated_at": when,
    }


def _stated(value: Any) -> dict[str, str]:
    """A consent trait as the marketing consent it states: `y`/`n`, yes/no, true/false, or Segment-style
    `{"marketing": ...}`."""
    if isinstance(value, dict):
        value = value.get("marketing")
    if value is None:
        return {}
    text = str(value).strip().lower()
    return {"marketing_consent": "n" if text in ("n", "no", "false", "0", "out", "opt-out", "denied") else "y"}


CATEGORY_TERMS = {"marketing": "marketing_consent", "advertising": "ads_consent", "targeting": "ads_consent",
                  "personalization": "personalize_consent", "personalisation": "personalize_consent",
                  "analytics": "collect_consent", "datasharing": "share_consent", "sharing": "share_consent"}
"""Consent categories (Segment consent spec, `context.consent.categoryPreferences`, names as a CMP commonly sets
them, case and spaces ignored) → the consent they state."""


def segment_consent(m: dict[str, Any]) -> dict[str, str]:
    """The consents a message's `context.consent.categoryPreferences` states (column → y or n); for a term named
    by two categories, a refusal of either wins."""
    consent = (m.get("context") or {}).get("consent") if isinstance(m.get("context"), dict) else None
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    stated: dict[str, str] = {}
    for category, value in (preferences.items() if isinstance(preferences, dict) else ()):
        column = CATEGORY_TERMS.get(str(category).replace(" ", "").replace("_", "").lower())
        if column:
            refused = value is False or str(value).lower() in ("false", "0", "no", "n")
            stated[column] = "n" if refused or stated.get(column) == "n" else "y"
    return stated


def collects(m: dict[str, Any]) -> bool:
    """Whether the message's own consent lets Accord keep what it says the person did (not when Analytics is
    refused: its consent is kept, the event is not)."""
    return segment_consent(m).get("collect_consent") != "n"


def _consent_row(person: str, user: str | None, anonymous: str | None, stated: dict[str, str],
                 reason: str, when: str | None) -> dict[str, str | None]:
    """A consent stated by any message (a CMP's "Segment Consent Preference Updated" track): a record of its own,
    so it changes nothing else the person's record says."""
    return {"source_id": f"consent:{person}", "user_id": user, "anonymous_id": anonymous, **stated,
            "consent_reason": reason, "source_updated_at": when}


def _minimal_person(person: str, user: str | None, anonymous: str | None) -> dict[str, str | None]:
    """The person an event belongs to, with no time: it never outranks what identify said."""
    return {"source_id": person, "user_id": user, "anonymous_id": anonymous}


def _id_link(m: dict[str, Any]) -> dict[str, str | None]:
    """userId ↔ anonymousId as a record of its own: the user's record keeps only its latest anonymousId, and a
    second device must not cut the first one's history off the profile."""
    return {"source_id": f"alias:{m['anonymousId']}", "user_id": str(m["userId"]), "anonymous_id": str(m["anonymousId"])}


def message_hash(m: dict[str, Any]) -> str:
    """The id of a message sent without one: its content's."""
    return "h:" + hashlib.sha256(json.dumps(m, sort_keys=True).encode()).hexdigest()[:32]


def message_time(m: dict[str, Any], received: Any) -> datetime | None:
    """When a message happened: its `timestamp` moved by its sender's clock skew (`receivedAt` − `sentAt`, as
    Segment and PostHog correct it: a device clock a year ahead would put its events in next year), else its
    timestamp as sent, else when it was received."""
    at, got = parse_time(m.get("timestamp")), parse_time(received)
    if at is None:
        return got
    sent = parse_time(m.get("sentAt"))
    if sent is None or got is None:
        return at
    moved = at + (got - sent)
    return moved if EARLIEST <= moved < LATEST else at


def parse_time(value: Any) -> datetime | None:
    """A message's ISO 8601 time, or None if it is missing or no time."""
    return _instant(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=1024)
def _instant(text: str) -> datetime | None:
    """Cached: a batch's messages share its `sentAt` and `receivedAt` (the retention sweep of the log spent half
    its time parsing each message's three times, two of them the batch's)."""
    try:
        return parse_instant(text)
    except ValueError:
        return None
