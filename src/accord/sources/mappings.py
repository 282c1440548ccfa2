"""Mappings shipped with the connectors for their systems' own export shapes (`salesforce/contact`,
`marketo/lead`, ...: a connector's type, then a file of its `mappings/` folder), and finding the one that fits."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from accord.connectors.registry import Connector, connectors
from accord.ingest.mapping import Mapping, MappingError, parse_mapping
from accord.model.schema import STANDARD, CustomObject, Schema
from accord.readable import UnreadableYaml, yaml_data


def _shipped(connector: Connector) -> Traversable:
    return resources.files(connector.package) / "mappings"


def builtin_mappings() -> list[str]:
    return sorted(f"{c.type}/{item.name[:-5]}" for c in connectors().values() if _shipped(c).is_dir()
                  for item in _shipped(c).iterdir() if item.name.endswith(".yaml"))


def best_fit(columns: list[str]) -> tuple[str, float, float]:
    """The shipped mapping that fits a file's columns best, the share of the columns it reads that are there and
    the share of the file's columns it reads; MappingError when none can read it. Both shares count: by the first
    alone a small mapping (a list's five columns) beat the one a file of leads was made for."""
    from accord.ingest.preview import fit

    def score(name: str) -> tuple[float, float, float]:
        present, read = fit(resolve_mapping(name), columns)
        return (2 * present * read / (present + read) if present + read else 0.0), present, read

    (best, present, read), name = max((score(n), n) for n in builtin_mappings())
    if best == 0:
        raise MappingError(f"no shipped mapping fits the columns {', '.join(columns)}; write one (docs/ingest.md) "
                           "and pass --mapping")
    return name, present, read


@dataclass(frozen=True)
class ObjectShape:
    """How a system exports a custom object's records: its source type and the columns of the id, the modification
    time (the first present) and the deletion flag."""

    source_type: str
    id_column: str = "Id"
    updated: tuple[str, ...] = ("SystemModstamp", "LastModifiedDate")
    deleted: str | None = "IsDeleted"


SALESFORCE_OBJECT = ObjectShape("Salesforce")


def object_mapping(obj: CustomObject, schema: Schema, shape: ObjectShape = SALESFORCE_OBJECT,
                   id_column: str | None = None, relation_column: str | None = None) -> Mapping:
    """The mapping of a custom object as `shape`'s system exports it: its id, the link to whom it relates (the
    declared `relation_column` unless given), the modification time; its fields are taken by name (or label), as
    custom fields are."""
    fields: dict[str, object] = {
        "source_id": id_column or shape.id_column,
        obj.key_column: {"from": relation_column or obj.relation_column, "transforms": ["source_key"]},
        "source_updated_at": {"coalesce": list(shape.updated), "optional": True},
    }
    if shape.deleted:
        fields["is_deleted"] = {"from": shape.deleted, "optional": True}
    raw = {"entity": obj.name, "source_type": shape.source_type, "null_values": ["", "null"], "fields": fields}
    return parse_mapping(raw, f"the mapping of custom object {obj.name}", schema)


def shipped_raw(ref: str) -> Any:
    """A shipped mapping's YAML as data (a connector adapts it to what an instance holds before parsing it)."""
    system, _, name = ref.partition("/")
    item = _shipped(connectors()[system]) / f"{name}.yaml" if system in connectors() and name else None
    if item is None or not item.is_file():
        raise MappingError(f"no mapping file {ref!r} and no shipped mapping of that name; shipped: "
                           f"{', '.join(builtin_mappings())}")
    return yaml.safe_load(item.read_text())


def resolve_mapping(ref: str | Path, entity: str | None = None, schema: Schema = STANDARD) -> Mapping:
    """A mapping file path, the name of a shipped mapping, or of a custom object of `schema` (its Salesforce
    shape), read for `schema`; `entity` fills in or checks the target entity."""
    obj = schema.object(str(ref))
    if obj is not None and not Path(ref).exists():
        return object_mapping(obj, schema)
    path = Path(ref)
    if path.exists():
        where = str(path)
        try:
            raw = yaml_data(path.read_text(), where)
        except (OSError, UnicodeDecodeError, UnreadableYaml) as err:
            raise MappingError(f"cannot read mapping {path}: {err}") from None
    else:
        raw, where = shipped_raw(str(ref)), f"shipped mapping {ref}"
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: a mapping is a YAML mapping with entity and fields")
    if entity is not None:
        if raw.get("entity", entity) != entity:
            raise MappingError(f"{where} maps to {raw['entity']!r}, not to --entity {entity!r}")
        raw = {**raw, "entity": entity}
    return parse_mapping(raw, where, schema)


__all__ = ["ObjectShape", "best_fit", "builtin_mappings", "object_mapping", "resolve_mapping", "shipped_raw"]
