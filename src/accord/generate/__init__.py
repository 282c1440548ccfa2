"""The data generator: a realistic, internally consistent B2B world in Salesforce and Marketo shapes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from accord.generate.export import Exporter, WrittenFile
from accord.generate.world import SCALES, Scale, build_world


def generate(
    out: Path, scale: str | Scale = "small", seed: int = 1, as_of: datetime | None = None,
    on_file: Callable[[str], None] | None = None,
) -> list[WrittenFile]:
    """Write the world for `scale` (a name, or a `Scale` of one's own) and `seed` below `out`; returns the files
    with their mappings."""
    if isinstance(scale, str) and scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file: name a folder to write the world into")
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(SCALES[scale] if isinstance(scale, str) else scale, seed, as_of)
    return Exporter(world, out, on_file).write_all()


__all__ = ["SCALES", "WrittenFile", "generate"]
