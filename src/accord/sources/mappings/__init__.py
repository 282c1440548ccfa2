"""Mappings shipped with Accord for the source systems' own export shapes (`salesforce/contact`, `marketo/lead`, ...)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from accord.ingest.mapping import Mapping, MappingError, parse_mapping


def builtin_mappings() -> list[str]:
    root = resources.files(__package__)
    return sorted(
        f"{system.name}/{item.name[:-5]}"
        for system in root.iterdir()
        if system.is_dir() and not system.name.startswith("_")
        for item in system.iterdir()
        if item.name.endswith(".yaml")
    )


def resolve_mapping(ref: str | Path, entity: str | None = None) -> Mapping:
    """A mapping file path, or the name of a shipped mapping; `entity` fills in or checks the target entity."""
    path = Path(ref)
    if path.exists():
        raw = yaml.safe_load(path.read_text())
        where = str(path)
    else:
        item = resources.files(__package__).joinpath(*f"{ref}.yaml".split("/"))
        if not item.is_file():
            raise MappingError(f"no mapping file {ref!r} and no shipped mapping of that name; shipped: {', '.join(builtin_mappings())}")
        raw = yaml.safe_load(item.read_text())
        where = f"shipped mapping {ref}"
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: a mapping is a YAML mapping with entity and fields")
    if entity is not None:
        if raw.get("entity", entity) != entity:
            raise MappingError(f"{where} maps to {raw['entity']!r}, not to --entity {entity!r}")
        raw = {**raw, "entity": entity}
    return parse_mapping(raw, where)


__all__ = ["builtin_mappings", "resolve_mapping"]
