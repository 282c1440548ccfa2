"""Destinations as `accord.yaml` lists them under `destinations:`: one settings model per registered connector
that sends, told apart by `type`."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from accord.connectors.registry import with_destinations

DestinationConfig = Annotated[Union[tuple(c.destination for c in with_destinations())],  # type: ignore[misc]
                              Field(discriminator="type")]
