"""The `alerts:` section of accord.yaml: which rules fire, and where an alert is sent."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from accord.connectors.secrets import SecretRef


class AlertRules(BaseModel):
    """What is worth telling someone; a rule set to null is off."""

    model_config = ConfigDict(extra="forbid")

    delivery_failed: bool = Field(default=True, description="A destination's last run failed or had failed changes.")
    dead_letters_over: int | None = Field(default=0, ge=0,
                                          description="A destination holds more than this many dead letters.")
    source_failing: bool = Field(default=True, description="An API source's last sync failed.")
    source_stale_minutes: float | None = Field(default=None, gt=0,
                                               description="An API source has not synced for this long.")
    audience_size_change_percent: float | None = Field(
        default=50, gt=0, description="An audience's last evaluation changed its size by more than this.")
    audience_size_change_minimum: int = Field(default=20, ge=0,
                                              description="…when it had at least this many members before.")
    stage_failing: bool = Field(default=True, description="A pipeline stage's last run failed (the worker is "
                                                          "unhealthy).")
    platform_unusable: bool = Field(default=True, description="An ad platform said it will not serve ads on an "
                                                              "audience's list (too small, failed, expired, closed, "
                                                              "restricted).")


class EmailChannel(BaseModel):
    """An SMTP server to send alerts through."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(description="SMTP host.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    sender: str = Field(description="From address.")
    to: list[str] = Field(min_length=1, description="Who gets the alerts.")
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS before logging in.")
    username: str | None = Field(default=None, description="Login, when the server wants one.")
    password: SecretRef | None = Field(default=None, description="The login's password, as `env:` or `file:`.")
    timeout_seconds: float = Field(default=10, gt=0, description="Give up on the server after this long.")


class WebhookChannel(BaseModel):
    """A URL that takes a Slack-compatible JSON body (`{"text": ...}`), e.g. a Slack or Teams incoming webhook."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The URL, or a reference to it (`env:…`, `file:…`): a Slack webhook URL is a secret.")
    timeout_seconds: float = Field(default=10, gt=0, description="Give up on the URL after this long.")


class AlertsConfig(BaseModel):
    """Rules and channels; without a channel alerts are still recorded and shown (Home, `accord alerts list`)."""

    model_config = ConfigDict(extra="forbid")

    rules: AlertRules = Field(default_factory=AlertRules, description="What fires an alert.")
    email: EmailChannel | None = Field(default=None, description="Send each new alert by e-mail.")
    webhook: WebhookChannel | None = Field(default=None, description="Post each new alert to a webhook.")
    every_seconds: float = Field(default=60, gt=0, description="How often `accord serve` checks the rules.")
