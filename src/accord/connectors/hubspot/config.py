"""HubSpot settings as accord.yaml states them: the portal, its private app's access token (by reference), and
what the source reads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from accord.connectors.secrets import SecretRef, resolve_secret
from accord.sources.api import SourceBase

if TYPE_CHECKING:
    from accord.connectors.hubspot.client import HubSpotClient

HUBSPOT_OBJECTS = ("contacts", "companies", "deals")
"""The objects the source reads, in the order it reads them."""


class HubSpotSourceConfig(SourceBase):
    """One HubSpot portal (account) feeding one or more sandboxes."""

    type: Literal["hubspot"] = "hubspot"
    portal_id: str = Field(description="The portal's id (Hub ID, in HubSpot's account menu): its records' "
                                       "instance, and checked against the account the token belongs to.")
    access_token: SecretRef = Field(description="Reference to the private app's access token (scopes "
                                                "crm.objects.contacts.read, crm.objects.companies.read, "
                                                "crm.objects.deals.read and crm.schemas.*.read of each).")
    url: str = Field(default="https://api.hubapi.com", description="Where HubSpot's API is.")
    objects: list[Literal["contacts", "companies", "deals"]] = Field(
        default_factory=lambda: list(HUBSPOT_OBJECTS), description="Objects to read, with their associations "
        "(a contact's companies, a deal's companies and contacts).")
    mappings: dict[str, str] = Field(default_factory=dict, description="Object → mapping file (relative to the "
                                     "workspace) replacing the shipped one, e.g. to map the portal's own properties.")
    custom_fields: list[str] | None = Field(default=None, description="Which declared custom fields (the portal's "
                                            "internal property names) to read; default: every declared one the "
                                            "portal has.")
    page_size: int = Field(default=100, ge=1, le=100, description="Records per call (HubSpot answers 100 at most).")
    records_per_batch: int = Field(default=5000, ge=1, le=100_000, description="Records loaded (and checkpointed) "
                                   "as one batch: a stopped backfill resumes after the last batch loaded.")
    search_lag_seconds: int = Field(default=60, ge=0, le=3600, description="How long HubSpot's search may take to "
                                    "find a changed record: each sync reads again the changes of this last while.")

    @field_validator("portal_id")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError(f"a HubSpot portal id is a number (its Hub ID), not {value[:40]!r}")
        return value

    @property
    def instance_id(self) -> str:
        return self.portal_id

    def client(self, root: Path) -> HubSpotClient:
        """A client for the portal, its token read (relative to the workspace `root`)."""
        from accord.connectors.hubspot.client import HubSpotClient

        return HubSpotClient(self.url, resolve_secret(self.access_token, root))
