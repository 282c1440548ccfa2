"""Instants as the systems write them: one parser for ISO 8601 in any of its API spellings, one UTC form."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
"""Accepted instants are EARLIEST ≤ t < LATEST (UTC), for the collector, files and API sources alike: outside them
a value is a typo or an attack, and year 10000 in UTC overflows Python's datetime."""
RANGE_TEXT = f"between {EARLIEST.year} and {LATEST.year - 1} (UTC)"


class InstantOutOfRange(ValueError):
    """An ISO 8601 instant outside the accepted range."""


def parse_instant(text: str) -> datetime:
    """`Z`, `+00:00` or Salesforce's `+0000`; a time without a zone is UTC. ValueError if it is no ISO 8601,
    InstantOutOfRange (a ValueError) outside the accepted years."""
    try:  # the usual spellings, without the rewriting below (a third of a collector message's parsing)
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(_COMPACT_OFFSET.sub(r"\1:\2", text.replace("Z", "+00:00")))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if not EARLIEST <= moment < LATEST:
        raise InstantOutOfRange(f"{text!r} is not {RANGE_TEXT}")
    return moment


def micros(moment: datetime) -> int:
    """A UTC instant as whole microseconds since the epoch: exact, as TIMESTAMPTZ is."""
    delta = moment.astimezone(timezone.utc) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def utc_seconds(at: datetime) -> str:
    """`2024-01-01T00:00:00Z`: the form Marketo's filters and SOQL's datetime literals take."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
