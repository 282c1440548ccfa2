"""Meta Custom Audiences settings as accord.yaml states them: the ad account, the token (by reference), the Graph API
version, and the custom audience each audience goes to."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from accord.activation.destination import DestinationBase
from accord.connectors.secrets import SecretRef


class MetaAdsDestinationConfig(DestinationBase):
    """Person audiences as customer-list custom audiences (hashed e-mail, phone, names and country), kept in step by
    adding and removing users."""

    type: Literal["meta_ads"] = "meta_ads"
    takes: ClassVar[tuple[str, ...]] = ("person",)  # a customer list holds people
    actions: ClassVar[tuple[str, ...]] = ("export", "export_to_third_party", "cross_site_targeting")
    ad_account: str = Field(pattern=r"^act_\d+$", description="The ad account the audiences belong to, e.g. "
                                                               "act_1234567890.")
    access_token: SecretRef = Field(description="Reference to a system user's token with ads_management, of a "
                                                "business that accepted the Custom Audience terms.")
    endpoint: str = Field(default="https://graph.facebook.com", description="Graph API host.")
    version: str = Field(default="v25.0", pattern=r"^v\d+\.\d+$", description="Graph API version; Meta retires "
                                                                             "each about two years on.")
    fields: list[str] = Field(default_factory=lambda: ["email", "phone", "first_name", "last_name", "country"],
                              description="What each member is matched by (all sent hashed): e-mail and a phone "
                                          "with its country code, each enough alone; names and a two-letter country "
                                          "code beside them.")
    custom_audiences: dict[str, str] = Field(default_factory=dict, description="Audience → custom audience name; "
                                             "default `<workspace> · <audience>`.")
    calls_per_minute: int = Field(default=60, ge=1, le=600, description="Calls a minute to pace under (Meta "
                                  "limits an ad account's calls by its spend, and says so by refusing).")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per request.")
