"""B2B source keys: `source_id@source_instance_id.source_type`, so records of different systems never collide."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceKey:
    source_id: str
    source_instance_id: str
    source_type: str

    def __str__(self) -> str:
        return make_source_key(self.source_id, self.source_instance_id, self.source_type)


INSTANCE_BYTES = 200


def checked_instance(instance: str) -> str:
    """A source instance id a key can hold and give back: not empty, no `@` (a key splits at its last one), no
    control characters, at most `INSTANCE_BYTES`; ValueError saying which."""
    if not instance.strip():
        raise ValueError("a source instance id may not be empty")
    if "@" in instance or any(ord(ch) < 32 or ord(ch) == 127 for ch in instance):
        raise ValueError(f"source instance id {instance[:80]!r} may not hold @ or control characters "
                         "(a record's key is id@instance.type)")
    if len(instance.encode()) > INSTANCE_BYTES:
        raise ValueError(f"source instance id {instance[:40]!r}... is longer than {INSTANCE_BYTES} bytes")
    return instance


def checked_type(source_type: str) -> str:
    """A source type a key can hold and give back: not empty, no `.` or `@` (a key splits at its last ones), no
    control characters; ValueError saying which."""
    if not source_type or any(ch in ".@" or ord(ch) < 32 or ord(ch) == 127 for ch in source_type):
        raise ValueError(f"source type {source_type[:80]!r} may not be empty nor hold . @ or control characters "
                         "(a record's key is id@instance.type)")
    return source_type


def make_source_key(source_id: str, source_instance_id: str, source_type: str) -> str:
    return f"{source_id}@{source_instance_id}.{source_type}"


def parse_source_key(key: str) -> SourceKey:
    """Split a key at the last `@` and the last `.`, since ids may contain either but types may not."""
    source_id, at, rest = key.rpartition("@")
    instance, dot, source_type = rest.rpartition(".")
    if not at or not dot or not source_id or not instance or not source_type:
        raise ValueError(f"not a B2B source key (want id@instance.type): {key!r}")
    return SourceKey(source_id, instance, source_type)


def instance_sql(key: str) -> str:
    """The instance of the source key `key` (an SQL expression), split as `parse_source_key` splits it."""
    return f"regexp_extract({key}, '@([^@]*)\\.[^.]*$', 1)"
