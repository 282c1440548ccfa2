"""Amplitude: a product's events in, from Amplitude's Export API, hour by hour as Amplitude makes them available."""

from accord.connectors.amplitude.config import AmplitudeSourceConfig
from accord.connectors.registry import Connector

CONNECTOR = Connector("amplitude", "Amplitude", __name__, source=AmplitudeSourceConfig)
