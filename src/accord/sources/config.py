"""API sources as `accord.yaml` lists them under `sources:`: one settings model per registered connector that
reads, told apart by `type`."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from accord.connectors.registry import with_sources
from accord.sources.api import SourceBase

SourceConfig = Annotated[Union[tuple(c.source for c in with_sources())],  # type: ignore[misc]
                         Field(discriminator="type")]


def check_sources(sources: list[SourceBase]) -> None:
    """No instance feeding one sandbox twice: it would ingest everything twice."""
    feeding: dict[tuple[str, str], str] = {}
    for source in sources:
        for sandbox in source.sandboxes:
            key = (source.state_key, sandbox)
            if key in feeding:
                raise ValueError(
                    f"{source.type} instance {source.instance_id} is configured twice for sandbox {sandbox!r} (sources "
                    f"{feeding[key]!r} and {source.name!r}): every record would be ingested twice; "
                    f"keep one source and list all its sandboxes under it"
                )
            feeding[key] = source.name
