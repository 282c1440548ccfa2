"""Mixpanel: a product's events in, from Mixpanel's raw event export, day by day."""

from accord.connectors.mixpanel.config import MixpanelSourceConfig
from accord.connectors.registry import Connector

CONNECTOR = Connector("mixpanel", "Mixpanel", __name__, source=MixpanelSourceConfig)
