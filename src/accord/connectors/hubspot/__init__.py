"""HubSpot: contacts, companies, deals and their associations in, through the CRM API (v3 objects and search,
v4 associations), with a private app's access token."""

from accord.connectors.hubspot.config import HubSpotSourceConfig
from accord.connectors.registry import Connector

CONNECTOR = Connector("hubspot", "HubSpot", __name__, source=HubSpotSourceConfig)
