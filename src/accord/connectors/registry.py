"""The connectors Accord knows: its own folders, and any a package adds through the `accord.connectors` entry
point (its value is a `Connector`). The config unions, the CLI's `sync` commands, the shipped mappings and the
docs' list are all built from here, so adding a connector touches nothing else. Every connector's client raises
`accord.connectors.errors.ConnectorError` (or a subclass) when its system refuses."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel

from accord.plugins import registered

BUILT_IN = ("marketo", "salesforce", "hubspot", "dynamics", "amplitude", "mixpanel", "file", "webhook", "linkedin",
            "google_ads", "meta_ads")
ENTRY_POINTS = "accord.connectors"


@dataclass(frozen=True)
class Connector:
    """What one connector offers. Its package holds `source.py` (`open_source(config, workspace_root, schema)`)
    when it has a source config, `destination.py` (`open_destination(config, root, workspace_name, sandbox)`)
    when it has a destination config, and `mappings/*.yaml` when it ships mappings."""

    type: str
    """Its `type:` in accord.yaml, the name of `accord sync <type>`, and the prefix of its mappings."""
    title: str
    package: str
    """The Python package holding its files."""
    source: type[BaseModel] | None = None
    """The settings of one of its sources under `sources:` (a `type: Literal[...]` field names it)."""
    destination: type[BaseModel] | None = None
    """The settings of one of its destinations under `destinations:`."""

    def open_source(self, config: Any, *args: Any) -> Any:
        return importlib.import_module(f"{self.package}.source").open_source(config, *args)

    def open_destination(self, config: Any, *args: Any) -> Any:
        return importlib.import_module(f"{self.package}.destination").open_destination(config, *args)


class RegistrationError(ValueError):
    """A connector that cannot be registered (a type taken twice, an entry point that is not a Connector)."""


@cache
def connectors() -> dict[str, Connector]:
    """Every connector by type: the built-in ones first, then those installed packages declare."""
    return registered("accord.connectors", BUILT_IN, "CONNECTOR", ENTRY_POINTS, Connector, lambda c: c.type,
                      RegistrationError, "two connectors register the type {!r}")


def connector(type_: str) -> Connector:
    return connectors()[type_]


def with_sources() -> list[Connector]:
    return [c for c in connectors().values() if c.source is not None]


def with_destinations() -> list[Connector]:
    return [c for c in connectors().values() if c.destination is not None]
