"""HubSpot: contacts, companies, deals and their associations in, through the CRM API (v3 objects and search,
v4 associations); person audiences out, as static contact lists of existing contacts; a private app's token."""

from accord.connectors.hubspot.config import (
                      HubSpotDestinationConfig,
                      HubSpotSourceConfig,
)
from accord.connectors.registry import Connector

CONNECTOR = Connector("hubspot", "HubSpot", __name__, source=HubSpotSourceConfig,
                      destination=HubSpotDestinationConfig)
