"""Microsoft Dynamics 365 (Dataverse): accounts, contacts, leads, opportunities and their contacts in, through the
Dataverse Web API (OData v4, change tracking); audiences out, as static marketing lists of existing records; an app
registration's client credentials."""

from accord.connectors.dynamics.config import (
                      DynamicsDestinationConfig,
                      DynamicsSourceConfig,
)
from accord.connectors.registry import Connector

CONNECTOR = Connector("dynamics", "Microsoft Dynamics 365", __name__, source=DynamicsSourceConfig,
                      destination=DynamicsDestinationConfig)
