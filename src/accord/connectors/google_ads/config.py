"""Google Ads Customer Match settings as accord.yaml states them: the customer, the credentials (by reference),
the API version, the user list each audience goes to, and the consent Google requires for EEA users."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from accord.activation.destination import DestinationBase
from accord.connectors.secrets import SecretRef


class GoogleAdsDestinationConfig(DestinationBase):
    """Person audiences as Customer Match user lists, sent as SHA-256 of the normalised e-mail and phone."""

    type: Literal["google_ads"] = "google_ads"
    takes: ClassVar[tuple[str, ...]] = ("person",)  # Customer Match matches people
    actions: ClassVar[tuple[str, ...]] = ("export", "export_to_third_party", "cross_site_targeting")
    customer_id: str = Field(pattern=r"^\d{10}$", description="The Google Ads customer id, ten digits, no dashes.")
    login_customer_id: str | None = Field(default=None, pattern=r"^\d{10}$",
                                          description="The manager account's id, when access goes through one.")
    developer_token: SecretRef = Field(description="Reference to the developer token.")
    access_token: SecretRef = Field(description="Reference to an OAuth 2.0 access token for the adwords scope.")
    endpoint: str = Field(default="https://googleads.googleapis.com", description="API host.")
    version: str = Field(default="v17", pattern=r"^v\d+$", description="API version in the path.")
    user_lists: dict[str, str] = Field(default_factory=dict,
                                       description="Audience → user list name; default `<workspace> · <audience>`.")
    fields: list[str] = Field(default_factory=lambda: ["email", "phone", "marketing_consent"],
                              description="What each member carries: e-mail and phone (sent hashed), consent.")
    ad_user_data: Literal["GRANTED", "DENIED", "UNSPECIFIED"] = Field(
        default="UNSPECIFIED", description="Consent to send user data to Google (EEA), for members who have not "
                                           "stated it: a recorded sharing consent `y` (else marketing consent `y`) "
                                           "sends GRANTED.")
    ad_personalization: Literal["GRANTED", "DENIED", "UNSPECIFIED"] = Field(
        default="UNSPECIFIED", description="Consent to personalised ads, for members who have not stated it: a "
                                           "recorded ads consent `y` (else marketing consent `y`) sends GRANTED.")
    postal_code_field: str | None = Field(
        default=None, description="Person attribute holding the postal code (e.g. a custom field MailingPostalCode): "
                                  "with it, a member with first and last name and a country also goes as address "
                                  "info (names hashed, country code and postal code as they are).")
    poll_seconds: float = Field(default=5.0, gt=0, description="How often a running job is asked whether it ended.")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per request.")

    @model_validator(mode="after")
    def _carries_the_address(self) -> GoogleAdsDestinationConfig:
        if self.postal_code_field:
            wanted = ["first_name", "last_name", "country", self.postal_code_field]
            self.fields = [*self.fields, *(f for f in wanted if f not in self.fields)]
        return self
