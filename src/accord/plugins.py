"""How plugins register themselves: Accord's own modules first, then each installed package's entry point."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import TypeVar

T = TypeVar("T")


def registered(package: str, built_in: Iterable[str], attribute: str, group: str, kind: type[T],
               key: Callable[[T], str], error: type[Exception], clash: str) -> dict[str, T]:
    """Plugins by key: `attribute` of each built-in module of `package`, then what entry points of `group` name.
    Anything not a `kind`, or a key taken twice (`clash` formats it), raises `error`."""
    found: dict[str, T] = {}
    offered = [getattr(importlib.import_module(f"{package}.{name}"), attribute) for name in built_in]
    offered += [entry.load() for entry in metadata.entry_points(group=group)]
    for plugin in offered:
        if not isinstance(plugin, kind):
            raise error(f"the entry point {group} must name a {kind.__name__}, not {plugin!r}")
        if key(plugin) in found:
            raise error(clash.format(key(plugin)))
        found[key(plugin)] = plugin
    return found
