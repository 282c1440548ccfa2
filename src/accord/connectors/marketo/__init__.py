"""Marketo Engage: leads, activities, programs, lists (and, when no CRM sends them, companies and opportunities)
in; audiences out as static lists of existing leads."""

from accord.connectors.marketo.config import (
                      MarketoDestinationConfig,
                      MarketoSourceConfig,
)
from accord.connectors.registry import Connector

CONNECTOR = Connector("marketo", "Marketo Engage", __name__, source=MarketoSourceConfig,
                      destination=MarketoDestinationConfig)
