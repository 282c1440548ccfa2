"""Destinations as `accord.yaml` lists them under `destinations:`: where audiences go, how, and when."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from accord.clients.marketo_connection import MarketoConnection
from accord.clients.pacing import MAX_WAIT_SECONDS
from accord.clients.secrets import SecretRef


class DestinationBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Name of the destination, unique in the workspace.")
    audiences: list[str] = Field(description="Names of the audiences sent here.")
    sandboxes: list[str] = Field(default_factory=lambda: ["prod"], description="Sandboxes whose memberships are sent.")
    schedule: str = Field(default="streaming",
                          description="`streaming` (within a second of a change, under `accord serve`) or a cron.")
    max_attempts: int = Field(default=5, ge=1, description="Tries per change before it goes to the dead-letter list.")
    backoff_seconds: float = Field(default=1.0, gt=0, description="First retry pause; doubles each attempt.")
    max_wait_seconds: float = Field(default=MAX_WAIT_SECONDS, gt=0, le=3600,
                                    description="Longest pause a run takes between tries. When the destination asks "
                                                "for a longer one (Retry-After), its changes are kept as `retrying` "
                                                "and sent by a later run, so no run stalls for hours.")
    fields: list[str] = Field(default_factory=lambda: ["email"], description="Profile attributes each member carries.")
    field_names: dict[str, str] = Field(default_factory=dict,
                                        description="Profile attribute → the name the destination receives it under, "
                                                    "e.g. {email: Email Address}; others keep their own names.")

    def sent_as(self, field: str) -> str:
        """The name a destination receives a profile attribute under."""
        return self.field_names.get(field, field)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if value != "streaming" and not croniter.is_valid(value):
            raise ValueError(f"schedule {value!r} is neither `streaming` nor a cron expression")
        return value


class MarketoDestinationConfig(MarketoConnection, DestinationBase):
    """Audiences as Marketo static lists: existing leads only, never a new lead."""

    type: Literal["marketo"] = "marketo"
    lists: dict[str, str] = Field(default_factory=dict,
                                  description="Audience → static list name; default `<workspace> · <audience>`.")
    folder_id: int | None = Field(default=None, description="Folder where missing lists are created; none: must exist.")


class FileDestinationConfig(DestinationBase):
    """Audience files: CSV or Parquet, snapshots or changes, written atomically with a manifest."""

    type: Literal["file"] = "file"
    url: str = Field(description="Folder: a path (relative to the workspace) or an fsspec URL such as s3://bucket/x.")
    format: Literal["csv", "parquet"] = Field(default="csv", description="File format.")
    mode: Literal["snapshot", "incremental"] = Field(
        default="snapshot", description="Every member each run, or only adds and removes with a `change` column.")
    split_rows: int = Field(default=1_000_000, ge=1, description="Rows per file at most; more go to further parts.")
    hash_fields: list[str] = Field(default_factory=list, description="Fields written as SHA-256 of their value.")
    storage_options: dict[str, str] = Field(default_factory=dict, description="fsspec options (e.g. endpoint_url).")


class WebhookDestinationConfig(DestinationBase):
    """Membership changes POSTed as JSON, signed with HMAC-SHA256."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(description="Receiver URL.")
    secret: SecretRef = Field(description="Reference to the signing secret: `env:VARIABLE` or `file:path[#key]`.")
    batch_size: int = Field(default=1, ge=1, le=1000, description="Changes per message (1: one message per change).")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Per request.")


DestinationConfig = Annotated[
    Union[MarketoDestinationConfig, FileDestinationConfig, WebhookDestinationConfig], Field(discriminator="type")
]

