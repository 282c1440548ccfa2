"""How to reach one Marketo instance, as accord.yaml states it: shared by the Marketo source and destination."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accord.clients.secrets import SecretRef, resolve_secret

if TYPE_CHECKING:
    from accord.clients.marketo import MarketoClient

MUNCHKIN = re.compile(r"^\d{3}-[A-Z]{3}-\d{3}$")


class MarketoConnection(BaseModel):
    """The instance, its API-only user's credentials (the secret by reference) and the limits to pace under."""

    model_config = ConfigDict(extra="forbid")

    munchkin_id: str = Field(description="The instance's Munchkin id, e.g. 123-ABC-456; its records' source_instance_id.")
    endpoint: str = Field(description="REST base URL of the instance, e.g. https://123-ABC-456.mktorest.com.")
    client_id: str = Field(description="Client id of the instance's API-only user (a LaunchPoint service).")
    client_secret: SecretRef = Field(description="Reference to the client secret: `env:VARIABLE` or `file:path[#key]`.")
    calls_per_20s: int = Field(default=100, ge=1, description="Rate limit to pace under (Marketo: 100 per 20 s).")
    max_concurrent: int = Field(default=10, ge=1, description="Calls in flight at most (Marketo: 10).")
    daily_quota: int = Field(default=50_000, ge=1, description="API calls a day (Marketo's default: 50,000).")

    @field_validator("munchkin_id")
    @classmethod
    def _munchkin(cls, value: str) -> str:
        if not MUNCHKIN.match(value):
            raise ValueError(f"munchkin_id {value!r} should look like 123-ABC-456")
        return value

    def client(self, workspace_root: Path, *, poll_seconds: float = 10.0) -> MarketoClient:
        """A client for the instance, its secret read from where the configuration points."""
        from accord.clients.marketo import (  # httpx only for commands that connect
            MarketoClient,
            MarketoLimits,
        )

        limits = MarketoLimits(self.calls_per_20s, 20.0, self.max_concurrent, self.daily_quota)
        return MarketoClient(self.endpoint, self.client_id, resolve_secret(self.client_secret, workspace_root),
                             limits=limits, poll_seconds=poll_seconds)
