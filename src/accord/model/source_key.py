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


def make_source_key(source_id: str, source_instance_id: str, source_type: str) -> str:
    return f"{source_id}@{source_instance_id}.{source_type}"


def parse_source_key(key: str) -> SourceKey:
    """Split a key at the last `@` and the last `.`, since ids may contain either but types may not."""
    source_id, at, rest = key.rpartition("@")
    instance, dot, source_type = rest.rpartition(".")
    if not at or not dot or not source_id or not instance or not source_type:
        raise ValueError(f"not a B2B source key (want id@instance.type): {key!r}")
    return SourceKey(source_id, instance, source_type)
