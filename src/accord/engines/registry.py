"""The engines Accord knows: its own folders, and any a package adds through the `accord.engines` entry point
(its value is an `EngineKind`)."""

from __future__ import annotations

from functools import cache
from typing import Any

from accord.engines.adapter import Engine, EngineKind
from accord.plugins import registered

BUILT_IN = ("duckdb", "spark")
ENTRY_POINTS = "accord.engines"


class EngineUnavailable(ValueError):
    """An engine that is not known, or whose libraries or runtime are not installed."""


@cache
def engines() -> dict[str, EngineKind]:
    """Every engine by name: the built-in ones first, then those installed packages declare."""
    return registered("accord.engines", BUILT_IN, "ENGINE", ENTRY_POINTS, EngineKind, lambda k: k.name,
                      EngineUnavailable, "two engines register the name {!r}")


def engine_kind(name: str) -> EngineKind:
    try:
        return engines()[name]
    except KeyError:
        raise EngineUnavailable(f"no engine named {name!r}; engines: {', '.join(engines())}") from None


def open_engine(name: str, lake: Any, settings: Any = None) -> Engine:
    """Open engine `name` over `lake`; a missing library or runtime is one clear `EngineUnavailable`."""
    kind = engine_kind(name)
    try:
        return kind.open(lake, settings)
    except Exception as err:  # noqa: BLE001 - a library, a runtime (Java) or a cluster missing: one clear line
        needs = f" (it needs {kind.needs})" if kind.needs else ""
        raise EngineUnavailable(f"the {name} engine could not start{needs}: {type(err).__name__}: "
                                f"{' '.join(str(err).split())}") from err


def workspace_engine(workspace: Any, lake: Any, name: str | None = None) -> Engine:
    """Engine `name` (default: the workspace's `engine:`) over `lake`, with its settings from accord.yaml."""
    kind = engine_kind(name or workspace.config.engine)
    settings = getattr(workspace.config, kind.settings_section) if kind.settings_section else None
    return open_engine(kind.name, lake, settings)


def lake_engine(lake: Any) -> Engine:
    """The engine that holds `lake`'s tables: reads that must answer now (why, previews, streaming) run there."""
    return open_engine(lake.engine, lake)
