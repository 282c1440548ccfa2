"""Mixpanel settings as accord.yaml states them: the project, a service account (its secret by reference), and how
the source reads the raw event export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from accord.connectors.secrets import SecretRef, resolve_secret
from accord.ingest.mapping import MappingError, checked_time_zone
from accord.sources.api import ExportSourceBase

if TYPE_CHECKING:
    from accord.connectors.mixpanel.client import MixpanelClient


class MixpanelSourceConfig(ExportSourceBase):
    """One Mixpanel project feeding one or more sandboxes."""

    type: Literal["mixpanel"] = "mixpanel"
    username: str = Field(description="The service account's user name.")
    secret: SecretRef = Field(description="Reference to the service account's secret.")
    url: str = Field(default="https://data.mixpanel.com", description="Where the raw export is: "
                     "https://data.mixpanel.com, or https://data-eu.mixpanel.com (EU residency), "
                     "https://data-in.mixpanel.com (India).")
    days_per_export: int = Field(default=7, ge=1, le=366, description="Days asked for in one export call.")
    late_days: int = Field(default=2, ge=1, le=30, description="The last days (today among them) read again at every "
                           "sync: events a device sends late still arrive; an event read twice is loaded once.")
    project_timezone: str | None = Field(default=None, description="For a project created before 2023: its time zone "
                                         "(Project Settings, e.g. America/Los_Angeles), in which its export writes "
                                         "`time`; a later project's export is in UTC.")

    @field_validator("project_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                checked_time_zone(value)
            except MappingError:
                raise ValueError(f"no time zone {value!r}: use an IANA name such as America/Los_Angeles") from None
        return value

    def client(self, root: Path) -> MixpanelClient:
        """A client for the project, the service account's secret read (relative to the workspace `root`)."""
        from accord.connectors.mixpanel.client import MixpanelClient

        return MixpanelClient(self.url, self.project_id, self.username, resolve_secret(self.secret, root))
