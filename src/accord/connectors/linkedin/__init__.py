"""LinkedIn Matched Audiences: person audiences as user segments, account audiences as company segments, through
the DMP segments API."""

from accord.connectors.linkedin.config import LinkedInDestinationConfig
from accord.connectors.registry import Connector

CONNECTOR = Connector("linkedin", "LinkedIn Matched Audiences", __name__, destination=LinkedInDestinationConfig)
