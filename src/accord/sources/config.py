"""Connection settings of API sources as `accord.yaml` lists them under `sources:`."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accord.clients.secrets import check_reference

MARKETO_ENTITIES = ("programs", "lists", "leads", "activities", "program_members", "list_members")
MUNCHKIN = re.compile(r"^\d{3}-[A-Z]{3}-\d{3}$")


class MarketoSourceConfig(BaseModel):
    """One Marketo Engage instance feeding one or more sandboxes."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["marketo"] = "marketo"
    name: str = Field(description="Name of this connection, unique in the workspace (used by `accord sync`).")
    munchkin_id: str = Field(description="The instance's Munchkin id, e.g. 123-ABC-456; its records' source_instance_id.")
    endpoint: str = Field(description="REST base URL of the instance, e.g. https://123-ABC-456.mktorest.com.")
    client_id: str = Field(description="Client id of the instance's API-only user (a LaunchPoint service).")
    client_secret: str = Field(description="Reference to the client secret: `env:VARIABLE` or `file:path[#key]`.")
    sandboxes: list[str] = Field(default_factory=lambda: ["prod"], description="Sandboxes this instance feeds.")
    backfill_since: date = Field(
        default_factory=lambda: date.today() - timedelta(days=730),
        description="Earliest lead creation and activity date the historic backfill reads.",
    )
    entities: list[Literal[MARKETO_ENTITIES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(MARKETO_ENTITIES), description="What to read."
    )
    sync_every_seconds: int = Field(default=60, ge=5, description="Incremental sync interval under `accord serve`.")
    calls_per_20s: int = Field(default=100, ge=1, description="Rate limit to pace under (Marketo: 100 per 20 s).")
    max_concurrent: int = Field(default=10, ge=1, description="Calls in flight at most (Marketo: 10).")
    daily_quota: int = Field(default=50_000, ge=1, description="API calls a day (Marketo's default: 50,000).")
    bulk_poll_seconds: float = Field(default=10.0, gt=0, description="How often a bulk export's status is polled.")

    @field_validator("munchkin_id")
    @classmethod
    def _munchkin(cls, value: str) -> str:
        if not MUNCHKIN.match(value):
            raise ValueError(f"munchkin_id {value!r} should look like 123-ABC-456")
        return value

    @field_validator("client_secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check_reference(value)

    @property
    def state_key(self) -> str:
        return f"marketo:{self.munchkin_id}"


SourceConfig = MarketoSourceConfig


def check_sources(sources: list[SourceConfig], sandboxes: list[str]) -> None:
    """Names unique, sandboxes known, and no instance feeding one sandbox twice (it would ingest everything twice)."""
    seen_names: set[str] = set()
    feeding: dict[tuple[str, str], str] = {}
    for source in sources:
        if source.name in seen_names:
            raise ValueError(f"two sources are named {source.name!r}; names must be unique")
        seen_names.add(source.name)
        for sandbox in source.sandboxes:
            if sandbox not in sandboxes:
                raise ValueError(f"source {source.name!r} feeds unknown sandbox {sandbox!r} (sandboxes: {', '.join(sandboxes)})")
            key = (source.state_key, sandbox)
            if key in feeding:
                raise ValueError(
                    f"Marketo instance {source.munchkin_id} is configured twice for sandbox {sandbox!r} (sources "
                    f"{feeding[key]!r} and {source.name!r}): every record would be ingested twice; "
                    f"keep one source and list all its sandboxes under it"
                )
            feeding[key] = source.name
