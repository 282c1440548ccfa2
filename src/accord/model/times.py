"""Instants as the systems write them: one parser for ISO 8601 in any of its API spellings, one UTC form."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_instant(text: str) -> datetime:
    """`Z`, `+00:00` or Salesforce's `+0000`; a time without a zone is UTC. ValueError if it is no ISO 8601."""
    moment = datetime.fromisoformat(_COMPACT_OFFSET.sub(r"\1:\2", text.replace("Z", "+00:00")))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def micros(moment: datetime) -> int:
    """A UTC instant as whole microseconds since the epoch: exact, as TIMESTAMPTZ is."""
    delta = moment.astimezone(timezone.utc) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def utc_seconds(at: datetime) -> str:
    """`2024-01-01T00:00:00Z`: the form Marketo's filters and SOQL's datetime literals take."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
