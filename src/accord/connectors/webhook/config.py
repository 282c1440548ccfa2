"""Webhook destination settings as accord.yaml states them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from accord.activation.destination import DestinationBase
from accord.connectors.secrets import SecretRef


class WebhookDestinationConfig(DestinationBase):
    """Membership changes POSTed as JSON, signed with HMAC-SHA256."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(description="Receiver URL.")
    secret: SecretRef = Field(description="Reference to the signing secret: `env:VARIABLE` or `file:path[#key]`.")
    batch_size: int = Field(default=1, ge=1, le=1000, description="Changes per message (1: one message per change).")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Per request.")
