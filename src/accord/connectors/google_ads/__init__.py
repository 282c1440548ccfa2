"""Google Ads Customer Match: person audiences as CRM-based user lists, through offline user data jobs."""

from accord.connectors.google_ads.config import GoogleAdsDestinationConfig
from accord.connectors.registry import Connector

CONNECTOR = Connector("google_ads", "Google Ads Customer Match", __name__, destination=GoogleAdsDestinationConfig)
