"""Microsoft Dynamics 365 (Dataverse): accounts, contacts, leads, opportunities and their contacts in, through the
Dataverse Web API (OData v4, change tracking); an app registration's client credentials."""

from accord.connectors.dynamics.config import DynamicsSourceConfig
from accord.connectors.registry import Connector

CONNECTOR = Connector("dynamics", "Microsoft Dynamics 365", __name__, source=DynamicsSourceConfig)
