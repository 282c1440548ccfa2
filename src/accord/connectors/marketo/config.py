"""Marketo settings as accord.yaml states them: how to reach an instance (shared by the source and the
destination), what the source reads, which lists the destination writes."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accord.activation.destination import DestinationBase
from accord.connectors.secrets import SecretRef, resolve_secret
from accord.sources.api import SourceBase

if TYPE_CHECKING:
    from accord.connectors.marketo.client import MarketoClient

MARKETO_ENTITIES = ("programs", "lists", "leads", "activities", "program_members", "list_members")
# Marketo's copies of CRM objects: read them only when Marketo holds what no CRM source sends (else twice counted).
MARKETO_CRM_ENTITIES = ("companies", "named_accounts", "opportunities")
CUSTOM_ACTIVITIES = {"Click Ad": "ad.click", "Attend Webinar": "webinar.attend"}
"""Custom activity types read as Accord's own event types, unless a source's `custom_activities` says otherwise."""
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
        from accord.connectors.marketo.client import (  # httpx only for commands that connect
            MarketoClient,
            MarketoLimits,
        )

        limits = MarketoLimits(self.calls_per_20s, 20.0, self.max_concurrent, self.daily_quota)
        return MarketoClient(self.endpoint, self.client_id, resolve_secret(self.client_secret, workspace_root),
                             limits=limits, poll_seconds=poll_seconds)


class MarketoSourceConfig(MarketoConnection, SourceBase):
    """One Marketo Engage instance feeding one or more sandboxes."""

    type: Literal["marketo"] = "marketo"
    backfill_since: date = Field(
        default_factory=lambda: date.today() - timedelta(days=730),
        description="Earliest lead creation and activity date the historic backfill reads.",
    )
    entities: list[Literal[MARKETO_ENTITIES + MARKETO_CRM_ENTITIES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(MARKETO_ENTITIES),
        description="What to read; add companies, named_accounts, opportunities (with their lead roles) when "
                    "Marketo holds them and no CRM source does.")
    custom_activities: dict[str, str] = Field(
        default_factory=dict,
        description="Custom activity types (each instance numbers its own, from 100000), by name or API name → the "
                    "event type their activities become, besides Click Ad → ad.click and Attend Webinar → "
                    "webinar.attend. Every other custom type is read too, as `marketo.<its name in snake case>`.")
    custom_objects: list[str] = Field(default_factory=list, description="Declared custom objects (`custom_objects:`, "
                                      "related_to: person) to read, by their Marketo API name (e.g. car_c): each "
                                      "lead's records, found by the field that links them to the lead's id.")
    reread_objects_days: float = Field(
        default=7, gt=0,
        description="Companies, named accounts, opportunities and custom objects change in Marketo without an "
                    "activity on their leads: a sync reads them for the leads it re-reads, and every this many days "
                    "for every lead.")
    bulk_poll_seconds: float = Field(default=10.0, gt=0, description="How often a bulk export's status is polled.")
    bulk_wait_minutes: float = Field(default=360, gt=0, description="Longest wait for the next bulk export file; "
                                     "longer fails the sync, and the next one picks the exports up.")
    reconcile_max_share: float = Field(default=0.5, gt=0, le=1, description="The most of the leads Accord holds "
                                       "that one comparison of lead ids (after a pause longer than Marketo keeps "
                                       "deletions) may delete; more is refused and the sync fails.")

    @property
    def instance_id(self) -> str:
        return self.munchkin_id


class MarketoDestinationConfig(MarketoConnection, DestinationBase):
    """Audiences as Marketo static lists: existing leads only, never a new lead."""

    type: Literal["marketo"] = "marketo"
    takes: ClassVar[tuple[str, ...]] = ("person",)  # a static list holds leads
    actions: ClassVar[tuple[str, ...]] = ("export", "email_targeting")  # the organisation's own Marketo
    lists: dict[str, str] = Field(default_factory=dict,
                                  description="Audience → static list name; default `<workspace> · <audience>`.")
    folder_id: int | None = Field(default=None, description="Folder where missing lists are created; none: must exist.")
