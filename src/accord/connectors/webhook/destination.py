"""Webhook: each membership change (or a batch of them) POSTed as JSON and signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from accord.activation.destination import Capabilities, Member, Outcome
from accord.connectors.http import checked, http_client
from accord.connectors.secrets import resolve_secret
from accord.connectors.webhook.config import WebhookDestinationConfig

SIGNATURE_HEADER = "X-Accord-Signature"
ANSWER_BYTES = 64 * 1024
"""What is read of a receiver's answer: its status is what counts, and a few lines of it go into an error."""


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookDestination:
    def __init__(self, config: WebhookDestinationConfig, secret: str) -> None:
        self.config, self._secret = config, secret
        self.capabilities = Capabilities(needs=tuple(config.fields), batch_size=config.batch_size,
                                         updates=True)
        self._http = http_client(timeout=config.timeout_seconds)

    def add(self, audience: str, members: list[Member]) -> list[Outcome]:
        self._post(audience, members, "realized")
        return [Outcome(m.profile_id, "added") for m in members]

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]:
        self._post(audience, members, "exited")
        return [Outcome(m.profile_id, "removed") for m in members]

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        self._post(audience, members, "updated")
        return [Outcome(m.profile_id, "updated") for m in members]

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        return {}

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None:
        return None

    def check(self) -> dict[str, int]:
        """The receiver answers a signed ping, `{"type": "ping", "at": ...}`, with a 2xx."""
        self._send({"type": "ping", "at": datetime.now(timezone.utc).isoformat()})
        return {"ping answered": 1}

    def close(self) -> None:
        self._http.close()

    def _post(self, audience: str, members: list[Member], status: str) -> None:
        stamp = datetime.now(timezone.utc).isoformat()
        messages = [self._message(audience, m, status, stamp) for m in members]
        self._send(messages[0] if self.config.batch_size == 1 else {"changes": messages})

    def _send(self, payload: Any) -> None:
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret, body),
                   "X-Accord-Delivery": hashlib.sha256(body).hexdigest()[:32]}
        checked("the webhook", f"POST {self.config.url}", lambda: self._answer(body, headers))

    def _answer(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """The receiver's answer with at most `ANSWER_BYTES` of its body, all within `timeout_seconds` of the
        request: a receiver answering with a file, or a byte at a time (its headers too), holds neither the
        delivery nor memory (httpx reads a body whole, and bounds only the wait for each piece). Headers not in by
        then, the connection is cut: the client is closed and another takes its place (one request at a time)."""
        deadline = time.monotonic() + self.config.timeout_seconds
        client, cut = self._http, threading.Event()

        def cut_off() -> None:
            cut.set()
            self._http = http_client(timeout=self.config.timeout_seconds)
            client.close()

        watchdog = threading.Timer(self.config.timeout_seconds, cut_off)
        watchdog.start()
        try:
            with client.stream("POST", self.config.url, content=body, headers=headers) as answer:
                watchdog.cancel()  # the status is in: the body is read within the deadline below
                kept = bytearray()
                for block in answer.iter_bytes():
                    kept += block
                    if len(kept) >= ANSWER_BYTES or time.monotonic() > deadline:
                        break
        except httpx.TransportError:
            if cut.is_set():
                raise httpx.ReadTimeout(f"no answer within {self.config.timeout_seconds:g} s") from None
            raise
        finally:
            watchdog.cancel()
        read_as_is = {k: v for k, v in answer.headers.items()
                      if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")}
        return httpx.Response(answer.status_code, headers=read_as_is, content=bytes(kept[:ANSWER_BYTES]),
                              request=answer.request)

    def _message(self, audience: str, member: Member, status: str, stamp: str) -> dict[str, Any]:
        identities = {self.config.sent_as(k): v for k, v in member.fields.items()
                      if k in self.config.fields and v is not None}
        return {"audience": audience, "profile_id": member.profile_id, "status": status, "identities": identities,
                "at": stamp}


def open_destination(config: WebhookDestinationConfig, root: Path, workspace_name: str,
                     sandbox: str) -> WebhookDestination:
    return WebhookDestination(config, resolve_secret(config.secret, root))
