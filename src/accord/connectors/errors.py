"""The one error type every connector's client raises when its system refuses or keeps failing: callers catch it
once, whatever the system, and report it per source or destination instead of crashing."""

from __future__ import annotations


class ConnectorError(RuntimeError):
    """A system refused a call or kept failing; the message says which system and why."""
