"""Salesforce settings as accord.yaml states them: the org and its connected app's OAuth flow (secrets by
reference), shared by the source and the destination; what the source reads; where the destination puts
audiences."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from accord.activation.destination import AudienceKindMismatch, DestinationBase
from accord.connectors.secrets import SecretRef, resolve_secret
from accord.sources.api import SourceBase

if TYPE_CHECKING:
    from accord.connectors.salesforce.client import SalesforceClient

CAMPAIGN_NAME = 80
"""The most characters a Campaign's Name holds."""
SALESFORCE_OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole", "Campaign",
                      "CampaignMember", "AccountContactRelation")


class SalesforceConnection(BaseModel):
    """How to reach one org: its URL and its connected app's OAuth flow, the secret by reference."""

    model_config = ConfigDict(extra="forbid")

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

    @model_validator(mode="after")
    def _flow_has_its_secret(self) -> SalesforceConnection:
        needed = {"client_credentials": "client_secret", "refresh_token": "refresh_token", "jwt": "private_key"}[self.auth]
        if getattr(self, needed) is None or (self.auth == "jwt" and not self.username):
            raise ValueError(f"auth {self.auth} needs {needed}" + (" and username" if self.auth == "jwt" else ""))
        return self

    def client(self, root: Path, poll_seconds: float = 5.0, *, retries: int = 6,
               timeout: float = 300.0) -> SalesforceClient:
        """A client for the org, its secrets read (relative to the workspace `root`)."""
        from accord.connectors.salesforce.client import SalesforceAuth, SalesforceClient

        secret = {name: resolve_secret(getattr(self, name), root) if getattr(self, name) else None
                  for name in ("client_secret", "refresh_token", "private_key")}
        auth = SalesforceAuth(self.token_url or f"{self.instance_url.rstrip('/')}/services/oauth2/token",
                              self.client_id, self.auth, username=self.username, **secret)
        return SalesforceClient(self.instance_url, self.api_version, auth, poll_seconds=poll_seconds,
                                retries=retries, timeout=timeout)


class SalesforceSourceConfig(SalesforceConnection, SourceBase):
    """One Salesforce org feeding one or more sandboxes."""

    type: Literal["salesforce"] = "salesforce"
    objects: list[str] = Field(default_factory=lambda: list(SALESFORCE_OBJECTS),
                               description="Objects to read: standard ones, and custom objects declared under "
                                           "custom_objects: (e.g. Subscription__c).")
    mappings: dict[str, str] = Field(default_factory=dict,
                                     description="Object → mapping file (relative to the workspace) replacing the "
                                                 "shipped one, e.g. to map custom __c fields.")
    custom_fields: list[str] | None = Field(default=None,
                                            description="Which declared custom fields (API names, e.g. ABM_Tier__c) "
                                                        "to read; default: every declared one the org's describe lists.")
    bulk_poll_seconds: float = Field(default=5.0, gt=0, description="How often a Bulk API 2.0 job is polled.")
    bulk_wait_minutes: float = Field(default=360, gt=0, description="Longest wait for a Bulk API 2.0 job to complete; "
                                     "longer fails the run (a backfill's next run waits for the same job).")
    bulk_page_records: int = Field(default=50_000, ge=1, description="Records per Bulk API result set (maxRecords).")
    reconcile_days: int = Field(default=14, ge=1, description="Days between comparisons of each object's ids with "
                                "the org's, which find records deleted where a sync cannot see it: the recycle bin "
                                "keeps a deletion 15 days, so a sync paused longer, an emptied bin or a hard delete "
                                "would miss it.")
    reconcile_max_share: float = Field(default=0.5, gt=0, le=1, description="The most of an object's records one "
                                       "comparison may delete; more is refused and the sync fails (an integration "
                                       "user who lost access to an object sees none of its records).")

    @property
    def instance_id(self) -> str:
        return self.org_id


class SalesforceDestinationConfig(SalesforceConnection, DestinationBase):
    """Person audiences as members of a Campaign (the person's contacts, else leads), or as a checkbox on their
    contact and lead records; account audiences as a checkbox on their Account records. Existing records only,
    unless `create_leads`."""

    type: Literal["salesforce"] = "salesforce"
    actions: ClassVar[tuple[str, ...]] = ("export", "single_identity_personalization")  # sales' own CRM
    campaigns: dict[str, str] = Field(default_factory=dict,
                                      description="Audience → Campaign name; default `<workspace> · <audience>`.")
    create_campaigns: bool = Field(default=True, description="Create a missing campaign (active, type Other); "
                                                             "off: a missing one is an error.")
    member_status: str = Field(default="Sent", description="CampaignMember Status of a member who joins; added to "
                                                           "the campaign's statuses when missing.")
    on_removal: Literal["delete", "status"] = Field(
        default="delete", description="A member who leaves: `delete` the CampaignMember, or set `removed_status`.")
    removed_status: str | None = Field(default=None, description="Status of a member who left (on_removal: status).")
    checkbox_fields: dict[str, str] = Field(
        default_factory=dict, description="Audience → checkbox field (API name) set true while the profile is a "
                                          "member: for a person audience on both Contact and Lead (e.g. "
                                          "In_Webinar_Audience__c), instead of a campaign; for an account audience, "
                                          "which only a checkbox can carry, on Account (e.g. Target_Account__c).")
    create_leads: bool = Field(default=False, description="Create a Lead (e-mail, names, company) for a member "
                                                          "with no contact or lead in the org; off: skipped.")
    fields: list[str] = Field(default_factory=lambda: ["email", "first_name", "last_name", "company_name"],
                              description="What each member carries (names and company are used only to create "
                                          "leads).")
    api_budget: float = Field(default=0.9, gt=0, le=1, description="Share of the org's daily API requests "
                                                                   "(Sforce-Limit-Info) beyond which Accord stops "
                                                                   "and leaves the rest for a later run.")
    max_concurrent: int = Field(default=4, ge=1, le=25, description="Batches written at once (Salesforce runs "
                                                                    "at most 25 long requests at a time per org).")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per request.")

    def minds_kinds(self) -> bool:
        """Only an audience without a checkbox can be refused (were it of accounts)."""
        return any(audience not in self.checkbox_fields for audience in self.audiences)

    def refuse_kinds(self, kinds: Mapping[str, str]) -> None:
        """Besides what every destination refuses: an account audience with no checkbox to carry it (a campaign's
        members are contacts and leads)."""
        super().refuse_kinds(kinds)
        bare = sorted(n for n, kind in kinds.items() if kind == "account" and n in self.audiences
                      and n not in self.checkbox_fields)
        if bare:
            raise AudienceKindMismatch(
                f"destination {self.name!r} (salesforce) takes an account audience as a checkbox on Account: set "
                f"checkbox_fields for {', '.join(map(repr, bare))} (e.g. Target_Account__c); a campaign holds "
                "contacts and leads only")

    @model_validator(mode="after")
    def _campaign_names_fit(self) -> SalesforceDestinationConfig:
        long = [a for a, name in self.campaigns.items() if len(name) > CAMPAIGN_NAME]
        if long:
            raise ValueError(f"campaigns: the name for {', '.join(map(repr, long))} is longer than the "
                             f"{CAMPAIGN_NAME} characters a Campaign Name holds")
        return self

    @model_validator(mode="after")
    def _removal_has_its_status(self) -> SalesforceDestinationConfig:
        if self.on_removal == "status" and not self.removed_status:
            raise ValueError("on_removal: status needs removed_status (e.g. Removed)")
        return self
