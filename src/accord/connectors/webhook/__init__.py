"""Webhooks: membership changes POSTed as JSON, signed with HMAC-SHA256."""

from accord.connectors.registry import Connector
from accord.connectors.webhook.config import WebhookDestinationConfig

CONNECTOR = Connector("webhook", "Webhook", __name__, destination=WebhookDestinationConfig)
