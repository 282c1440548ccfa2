"""Meta Custom Audiences: person audiences as customer-list custom audiences of an ad account (Facebook,
Instagram), through the Marketing API; e-mails leave Accord only as SHA-256 of the normalised address."""

from accord.connectors.meta_ads.config import MetaAdsDestinationConfig
from accord.connectors.registry import Connector

CONNECTOR = Connector("meta_ads", "Meta Custom Audiences", __name__, destination=MetaAdsDestinationConfig)
