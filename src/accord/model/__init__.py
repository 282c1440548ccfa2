"""The canonical B2B model: entities, source keys, identity namespaces and the XDM map."""

from accord.model.entities import (
    ENTITIES,
    EVENT_TYPES,
    Column,
    ColumnType,
    Entity,
    get_entity,
)
from accord.model.source_key import SourceKey, make_source_key, parse_source_key

__all__ = [
    "ENTITIES",
    "EVENT_TYPES",
    "Column",
    "ColumnType",
    "Entity",
    "SourceKey",
    "get_entity",
    "make_source_key",
    "parse_source_key",
]
