"""Dynamics 365 settings as accord.yaml states them: the environment, the app registration that signs in (its
secret by reference), shared by the source and the destination; what the source reads; which lists the destination
keeps."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accord.activation.destination import DestinationBase
from accord.connectors.secrets import SecretRef, resolve_secret
from accord.sources.api import SourceBase

if TYPE_CHECKING:
    from accord.connectors.dynamics.client import DynamicsClient

DYNAMICS_TABLES = ("accounts", "contacts", "leads", "opportunities", "lists")
"""The tables the source reads (by their entity set names), in the order it reads them."""


class DynamicsConnection(BaseModel):
    """How to reach one Dataverse environment: its URL, its organisation's id, and the app registration (client
    credentials) Accord signs in as."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The environment's URL, e.g. https://contoso.crm4.dynamics.com.")
    organization_id: str = Field(description="The organisation's id (Settings → Customizations → Developer "
                                             "Resources): its records' instance, checked against the one signed in to.")
    tenant_id: str = Field(description="The Microsoft Entra tenant (directory) id the app registration is in.")
    client_id: str = Field(description="The app registration's application (client) id; an application user for it "
                                       "in the environment, with a security role that reads the tables.")
    client_secret: SecretRef = Field(description="Reference to the app registration's client secret.")
    login_url: str = Field(default="https://login.microsoftonline.com",
                           description="Where Microsoft Entra ID signs in (a national cloud's own, e.g. "
                                       "https://login.microsoftonline.us).")
    api_version: str = Field(default="v9.2", pattern=r"^v9\.[0-9]+$", description="The Web API's version.")
    calls_per_five_minutes: int = Field(default=6000, ge=1, le=6000, description="Calls Accord makes in any five "
                                        "minutes: Dataverse allows one user 6,000 (its service protection limits).")

    @field_validator("organization_id", "tenant_id", "client_id")
    @classmethod
    def _guid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))  # the form Dataverse writes: lower case, hyphens
        except ValueError:
            raise ValueError(f"expected a GUID (like 5f1c2a3b-...-...), not {value[:40]!r}") from None

    @field_validator("url", "login_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"expected an https:// URL, not {value[:60]!r}")
        return value.rstrip("/")

    def client(self, root: Path, timeout: float = 60.0, retries: int = 5, concurrent: int = 1) -> DynamicsClient:
        """A client for the environment, its secret read (relative to the workspace `root`)."""
        from accord.connectors.dynamics.client import DynamicsClient
        from accord.connectors.pacing import Pacer

        return DynamicsClient(self.url, self.api_version, self.login_url, self.tenant_id, self.client_id,
                              resolve_secret(self.client_secret, root), timeout=timeout, retries=retries,
                              pacer=Pacer(self.calls_per_five_minutes, 300.0, concurrent))


class DynamicsSourceConfig(DynamicsConnection, SourceBase):
    """One Dynamics 365 environment feeding one or more sandboxes. Each table it reads needs change tracking on
    (the table's Track changes setting)."""

    type: Literal["dynamics"] = "dynamics"
    tables: list[Literal["accounts", "contacts", "leads", "opportunities", "lists"]] = Field(
        default_factory=lambda: list(DYNAMICS_TABLES), description="Tables to read (an opportunity with its "
        "contact, a static marketing list of contacts or leads with its members, as relations).")
    reconcile_max_share: float = Field(default=0.5, gt=0, le=1, description="A table read whole again (`--backfill`, "
                                       "new columns) deletes the records Accord holds that the read did not list; "
                                       "the most of a table's records it may delete: more is refused and the sync "
                                       "fails (an application user who lost a security role reads none).")
    members_every_hours: int = Field(default=24, ge=1, le=720, description="How often every static list's members "
                                     "are read again, beside those of the lists that changed.")
    mappings: dict[str, str] = Field(default_factory=dict, description="Table → mapping file (relative to the "
                                     "workspace) replacing the shipped one, e.g. to map the environment's own columns.")
    custom_fields: list[str] | None = Field(default=None, description="Which declared custom fields (the columns' "
                                            "logical names, e.g. new_abmtier) to read; default: every declared one "
                                            "the table has.")
    page_size: int = Field(default=5000, ge=1, le=5000, description="Records per call (Dataverse answers 5,000 "
                                                                   "at most).")
    records_per_batch: int = Field(default=5000, ge=1, le=100_000, description="Records loaded (and checkpointed) "
                                   "as one batch: a stopped backfill resumes after the last batch loaded.")
    choices: Literal["label", "value"] = Field(default="label", description="A choice column's value (an industry, "
                                               "a lead's status reason) as the label Dynamics shows (Accounting), "
                                               "or as its number (1). A record's state (`statecode`) is always its "
                                               "number, which is the same in every environment.")

    @property
    def instance_id(self) -> str:
        return self.organization_id


class DynamicsDestinationConfig(DynamicsConnection, DestinationBase):
    """Person audiences as static marketing lists of contacts (or of leads), account audiences as lists of accounts:
    existing active records only, never a new one."""

    type: Literal["dynamics"] = "dynamics"
    actions: ClassVar[tuple[str, ...]] = ("export", "email_targeting")  # the organisation's own CRM
    lists: dict[str, str] = Field(default_factory=dict,
                                  description="Audience → marketing list name; default `<workspace> · <audience>`.")
    people_as: Literal["contacts", "leads"] = Field(default="contacts", description="What a person audience's list "
                                                    "holds (a marketing list holds one kind of record).")
    create_lists: bool = Field(default=True, description="Create a missing list (static, of the audience's kind); "
                                                         "off: a missing one is an error.")
    max_concurrent: int = Field(default=4, ge=1, le=16, description="Batches sent at once (each a lookup and a list "
                                "change), within calls_per_five_minutes.")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per request.")

