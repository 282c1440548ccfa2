"""Sending alerts: one e-mail (SMTP) and one webhook post (a Slack-compatible `{"text": ...}`) per check."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx

from accord.alerts.config import AlertsConfig
from accord.alerts.rules import Alert
from accord.connectors.secrets import resolve_secret


class NotifyError(ValueError):
    """A channel could not take the alerts."""


def text_of(workspace: str, alerts: list[Alert]) -> str:
    lines = [f"Accord {workspace}: {len(alerts)} alert(s)"] + [f"• {a.message}" for a in alerts]
    return "\n".join(lines)


def channels(config: AlertsConfig) -> list[str]:
    """The channels accord.yaml configures, in the order they are tried."""
    return [name for name in ("email", "webhook") if getattr(config, name) is not None]


def send(config: AlertsConfig, base: Path, workspace: str, alerts: list[Alert],
         on: list[str] | None = None) -> list[str]:
    """Send the alerts on each channel of `on` (default: every configured one); returns the channels that took
    them. NotifyError names each failure (the other channels were still tried)."""
    if not alerts:
        return []
    body, used, failures = text_of(workspace, alerts), [], []
    for channel in channels(config) if on is None else on:
        try:
            if channel == "email":
                _email(config, base, workspace, body, len(alerts))
            else:
                _webhook(config, base, body)
            used.append(channel)
        except (OSError, smtplib.SMTPException, httpx.HTTPError, ValueError) as err:
            failures.append(f"{_named(config, channel)}: {err}")
    if failures:
        raise NotifyError("; ".join(failures))
    return used


def _named(config: AlertsConfig, channel: str) -> str:
    email = config.email
    return f"e-mail via {email.host}:{email.port}" if channel == "email" and email else channel


def _email(config: AlertsConfig, base: Path, workspace: str, body: str, count: int) -> None:
    email = config.email
    assert email is not None
    message = EmailMessage()
    message["Subject"] = f"[Accord {workspace}] {count} alert(s)"
    message["From"], message["To"] = email.sender, ", ".join(email.to)
    message.set_content(body)
    with smtplib.SMTP(email.host, email.port, timeout=email.timeout_seconds) as smtp:
        if email.starttls:
            smtp.starttls()
        if email.username and email.password:
            smtp.login(email.username, resolve_secret(email.password, base))
        smtp.send_message(message)


def _webhook(config: AlertsConfig, base: Path, body: str) -> None:
    hook = config.webhook
    assert hook is not None
    url = resolve_secret(hook.url, base) if hook.url.startswith(("env:", "file:")) else hook.url
    answer = httpx.post(url, json={"text": body}, timeout=hook.timeout_seconds)
    if answer.status_code >= 300:
        raise ValueError(f"{answer.status_code} from the webhook")
