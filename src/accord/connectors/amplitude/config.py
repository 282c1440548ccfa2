"""Amplitude settings as accord.yaml states them: the project, its API key and secret key (by reference), and how
the source reads its export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from accord.connectors.secrets import SecretRef, resolve_secret
from accord.sources.api import ExportSourceBase

if TYPE_CHECKING:
    from accord.connectors.amplitude.client import AmplitudeClient


class AmplitudeSourceConfig(ExportSourceBase):
    """One Amplitude project feeding one or more sandboxes."""

    type: Literal["amplitude"] = "amplitude"
    api_key: str = Field(description="The project's API key (the Export API's user name).")
    secret_key: SecretRef = Field(description="Reference to the project's secret key (the Export API's password).")
    url: str = Field(default="https://amplitude.com", description="Where the Export API is: https://amplitude.com, "
                     "or https://analytics.eu.amplitude.com for a project in Amplitude's EU data center.")
    hours_per_export: int = Field(default=24, ge=1, le=24 * 31, description="Hours asked for in one export call; a "
                                  "range Amplitude finds too large (over 4 GB) is asked again in halves.")
    delay_hours: int = Field(default=2, ge=0, le=48, description="How long after an hour Amplitude makes its events "
                             "available to export (two hours, it says): a sync reads no hour younger than this.")

    def client(self, root: Path) -> AmplitudeClient:
        """A client for the project, its secret key read (relative to the workspace `root`)."""
        from accord.connectors.amplitude.client import AmplitudeClient

        return AmplitudeClient(self.url, self.api_key, resolve_secret(self.secret_key, root))
