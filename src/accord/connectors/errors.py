"""The one error type every connector's client raises when its system refuses or keeps failing: callers catch it
once, whatever the system, and report it per source or destination instead of crashing."""

from __future__ import annotations


class ConnectorError(RuntimeError):
    """A system refused a call or kept failing; the message says which system and why. `retryable` for 429, 5xx
    and timeouts, with the server's Retry-After when it gave one; `unreachable` when no answer came at all."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None,
                 unreachable: bool = False) -> None:
        super().__init__(message)
        self.retryable, self.retry_after, self.unreachable = retryable or unreachable, retry_after, unreachable
