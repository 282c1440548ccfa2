"""Connection settings of API sources as `accord.yaml` lists them under `sources:`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from accord.clients.marketo_connection import MarketoConnection
from accord.clients.secrets import SecretRef

MARKETO_ENTITIES = ("programs", "lists", "leads", "activities", "program_members", "list_members")
# Marketo's copies of CRM objects: read them only when Marketo holds what no CRM source sends (else twice counted).
MARKETO_CRM_ENTITIES = ("companies", "named_accounts", "opportunities")
SALESFORCE_OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole", "Campaign",
                      "CampaignMember", "AccountContactRelation")


class MarketoSourceConfig(MarketoConnection):
    """One Marketo Engage instance feeding one or more sandboxes."""

    type: Literal["marketo"] = "marketo"
    name: str = Field(description="Name of this connection, unique in the workspace (used by `accord sync`).")
    sandboxes: list[str] = Field(default_factory=lambda: ["prod"], description="Sandboxes this instance feeds.")
    backfill_since: date = Field(
        default_factory=lambda: date.today() - timedelta(days=730),
        description="Earliest lead creation and activity date the historic backfill reads.",
    )
    entities: list[Literal[MARKETO_ENTITIES + MARKETO_CRM_ENTITIES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(MARKETO_ENTITIES),
        description="What to read; add companies, named_accounts, opportunities (with their lead roles) when "
                    "Marketo holds them and no CRM source does.")
    sync_every_seconds: int = Field(default=60, ge=5, description="Incremental sync interval under `accord serve`.")
    bulk_poll_seconds: float = Field(default=10.0, gt=0, description="How often a bulk export's status is polled.")

    @property
    def instance_id(self) -> str:
        return self.munchkin_id

    @property
    def state_key(self) -> str:
        return f"marketo:{self.munchkin_id}"


class SalesforceSourceConfig(BaseModel):
    """One Salesforce org feeding one or more sandboxes."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["salesforce"] = "salesforce"
    name: str = Field(description="Name of this connection, unique in the workspace (used by `accord sync`).")
    org_id: str = Field(description="The 18-character organization id (00D...); its records' source_instance_id.")
    instance_url: str = Field(description="The org's My Domain URL, e.g. https://acme.my.salesforce.com.")
    api_version: str = Field(default="62.0", description="REST API version, e.g. 62.0.")
    token_url: str | None = Field(default=None, description="OAuth token endpoint; default <instance_url>/services/oauth2/token.")
    auth: Literal["client_credentials", "refresh_token", "jwt"] = Field(
        default="client_credentials", description="OAuth flow of the connected app.")
    client_id: str = Field(description="Consumer key of the connected app.")
    client_secret: SecretRef | None = Field(default=None, description="Reference to the consumer secret (client credentials).")
    refresh_token: SecretRef | None = Field(default=None, description="Reference to a refresh token (refresh-token flow).")
    private_key: SecretRef | None = Field(default=None, description="Reference to the PEM key that signs JWT assertions.")
    username: str | None = Field(default=None, description="The integration user (JWT flow's subject).")
    sandboxes: list[str] = Field(default_factory=lambda: ["prod"], description="Sandboxes this org feeds.")
    objects: list[str] = Field(default_factory=lambda: list(SALESFORCE_OBJECTS),
                               description="Objects to read: standard ones, and custom objects declared under "
                                           "custom_objects: (e.g. Subscription__c).")
    mappings: dict[str, str] = Field(default_factory=dict,
                                     description="Object → mapping file (relative to the workspace) replacing the "
                                                 "shipped one, e.g. to map custom __c fields.")
    custom_fields: list[str] | None = Field(default=None,
                                            description="Which declared custom fields (API names, e.g. ABM_Tier__c) "
                                                        "to read; default: every declared one the org's describe lists.")
    sync_every_seconds: int = Field(default=60, ge=5, description="Incremental sync interval under `accord serve`.")
    bulk_poll_seconds: float = Field(default=5.0, gt=0, description="How often a Bulk API 2.0 job is polled.")
    bulk_page_records: int = Field(default=50_000, ge=1, description="Records per Bulk API result set (maxRecords).")

    @model_validator(mode="after")
    def _flow_has_its_secret(self) -> SalesforceSourceConfig:
        needed = {"client_credentials": "client_secret", "refresh_token": "refresh_token", "jwt": "private_key"}[self.auth]
        if getattr(self, needed) is None or (self.auth == "jwt" and not self.username):
            raise ValueError(f"auth {self.auth} needs {needed}" + (" and username" if self.auth == "jwt" else ""))
        return self

    @property
    def instance_id(self) -> str:
        return self.org_id

    @property
    def state_key(self) -> str:
        return f"salesforce:{self.org_id}"


SourceConfig = Annotated[Union[MarketoSourceConfig, SalesforceSourceConfig], Field(discriminator="type")]


def check_sources(sources: list[MarketoSourceConfig | SalesforceSourceConfig]) -> None:
    """No instance feeding one sandbox twice: it would ingest everything twice."""
    feeding: dict[tuple[str, str], str] = {}
    for source in sources:
        for sandbox in source.sandboxes:
            key = (source.state_key, sandbox)
            if key in feeding:
                raise ValueError(
                    f"{source.type} instance {source.instance_id} is configured twice for sandbox {sandbox!r} (sources "
                    f"{feeding[key]!r} and {source.name!r}): every record would be ingested twice; "
                    f"keep one source and list all its sandboxes under it"
                )
            feeding[key] = source.name
