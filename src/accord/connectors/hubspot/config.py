"""HubSpot settings as accord.yaml states them: the portal and its private app's access token (by reference),
shared by the source and the destination; what the source reads; which lists the destination keeps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accord.activation.destination import DestinationBase
from accord.connectors.secrets import SecretRef, resolve_secret
from accord.sources.api import SourceBase

if TYPE_CHECKING:
    from accord.connectors.hubspot.client import HubSpotClient

HUBSPOT_OBJECTS = ("contacts", "companies", "deals")
"""The objects the source reads, in the order it reads them."""


class HubSpotConnection(BaseModel):
    """How to reach one portal: its id and its private app's token, by reference."""

    model_config = ConfigDict(extra="forbid")

    portal_id: str = Field(description="The portal's id (Hub ID, in HubSpot's account menu): its records' "
                                       "instance, and checked against the account the token belongs to.")
    access_token: SecretRef = Field(description="Reference to the private app's access token (a source needs "
                                                "crm.objects.contacts.read, crm.objects.companies.read, "
                                                "crm.objects.deals.read and crm.schemas.*.read of each; a "
                                                "destination crm.lists.read, crm.lists.write and "
                                                "crm.objects.contacts.read).")
    url: str = Field(default="https://api.hubapi.com", description="Where HubSpot's API is.")
    calls_per_ten_seconds: int = Field(default=100, ge=1, le=1000, description="Calls Accord makes in any ten "
                                       "seconds: HubSpot allows a private app 100 on Free and Starter portals, 190 on "
                                       "Professional and Enterprise (the search API 5 a second on every portal).")

    @field_validator("portal_id")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError(f"a HubSpot portal id is a number (its Hub ID), not {value[:40]!r}")
        return value

    def client(self, root: Path, timeout: float = 60.0, retries: int = 5, concurrent: int = 1) -> HubSpotClient:
        """A client for the portal, its token read (relative to the workspace `root`)."""
        from accord.connectors.hubspot.client import HubSpotClient
        from accord.connectors.pacing import Pacer

        return HubSpotClient(self.url, resolve_secret(self.access_token, root), timeout=timeout, retries=retries,
                             pacer=Pacer(self.calls_per_ten_seconds, 10.0, concurrent))


class HubSpotSourceConfig(HubSpotConnection, SourceBase):
    """One HubSpot portal feeding one or more sandboxes."""

    type: Literal["hubspot"] = "hubspot"
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
    enumerations: Literal["label", "value"] = Field(default="label", description="A choice property's value "
                                                    "(a dropdown's, a deal's stage) as the label HubSpot shows "
                                                    "(Closed Won), or as its internal value (closedwon, or a "
                                                    "custom pipeline stage's number).")
    search_lag_seconds: int = Field(default=60, ge=0, le=3600, description="How long HubSpot's search may take to "
                                    "find a changed record: each sync reads again the changes of this last while.")

    @property
    def instance_id(self) -> str:
        return self.portal_id


class HubSpotDestinationConfig(HubSpotConnection, DestinationBase):
    """Person audiences as static (manual) contact lists, account audiences as company lists: existing contacts and
    companies only, never a new one."""

    type: Literal["hubspot"] = "hubspot"
    actions: ClassVar[tuple[str, ...]] = ("export", "email_targeting")  # the organisation's own HubSpot
    lists: dict[str, str] = Field(default_factory=dict,
                                  description="Audience → list name; default `<workspace> · <audience>`.")
    fields: list[str] = Field(default_factory=lambda: ["email", "domain"],
                              description="Profile attributes each member carries: a person's e-mail and an "
                                          "account's domain find the contacts and companies Accord did not read "
                                          "from this portal.")
    create_lists: bool = Field(default=True, description="Create a missing list (a manual list of contacts, or of "
                                                         "companies); off: a missing one is an error.")
    max_concurrent: int = Field(default=8, ge=1, le=16, description="Batches sent at once (each a lookup by "
                                "e-mail and a list change), within calls_per_ten_seconds.")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per request.")
