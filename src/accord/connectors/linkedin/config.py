"""LinkedIn Matched Audiences settings as accord.yaml states them: the ad account, the token (by reference), the
API version, and the segment each audience goes to."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from accord.activation.destination import DestinationBase
from accord.connectors.secrets import SecretRef


class LinkedInDestinationConfig(DestinationBase):
    """Person audiences as user segments (hashed e-mail, else name and company), account audiences as company
    segments (website domain, else name)."""

    type: Literal["linkedin"] = "linkedin"
    actions: ClassVar[tuple[str, ...]] = ("export", "export_to_third_party", "cross_site_targeting")
    ad_account: str = Field(pattern=r"^urn:li:sponsoredAccount:\d+$",
                            description="The ad account the segments belong to, e.g. urn:li:sponsoredAccount:5070123.")
    access_token: SecretRef = Field(description="Reference to an OAuth 2.0 token with rw_dmp_segments: "
                                                "`env:VARIABLE` or `file:path[#key]`.")
    endpoint: str = Field(default="https://api.linkedin.com", description="API host (the versioned `/rest` API).")
    version: str = Field(default="202511", pattern=r"^20\d{2}(0[1-9]|1[0-2])$",
                         description="LinkedIn-Version header (YYYYMM); LinkedIn sunsets versions after a year.")
    segments: dict[str, str] = Field(default_factory=dict,
                                     description="Audience → DMP segment name; default `<workspace> · <audience>`.")
    fields: list[str] = Field(default_factory=lambda: ["email", "first_name", "last_name", "company_name", "name",
                                                       "domain"],
                              description="What each member carries: a person's e-mail (sent hashed), names and "
                                          "company; an account's name and domain.")
    organization_field: str | None = Field(
        default=None, description="Account attribute holding the company's LinkedIn organization id or URN (e.g. a "
                                  "custom field LinkedIn_Company_Id__c); sent as organizationUrn where present, "
                                  "the surest match LinkedIn offers.")
    source_platform: str = Field(default="LIST_UPLOAD", description="The segments' sourcePlatform, as LinkedIn "
                                                                     "registered it for your app.")
    calls_per_minute: int = Field(default=300, ge=1, description="Streaming calls a minute to pace under.")
    settle_seconds: float = Field(default=5.0, ge=0, description="Pause after creating a segment before adding "
                                                                  "to it (LinkedIn asks for 5 s).")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per request.")

    @model_validator(mode="after")
    def _carries_the_organization(self) -> LinkedInDestinationConfig:
        if self.organization_field and self.organization_field not in self.fields:
            self.fields = [*self.fields, self.organization_field]
        return self
