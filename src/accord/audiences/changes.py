"""Membership changes, and the in-process bus that announces them (activation subscribes to it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Change:
    audience: str
    profile_id: str
    status: str  # realized or exited
    at: datetime


class MembershipBus:
    """Two streams of the same changes: as soon as they are decided, and once they are recorded in the lake."""

    def __init__(self) -> None:
        self._decided: list[Callable[[list[Change]], None]] = []
        self._recorded: list[Callable[[list[Change]], None]] = []

    def subscribe(self, callback: Callable[[list[Change]], None], recorded: bool = False) -> None:
        """`callback` gets each list of changes when decided, or with `recorded` once the lake holds them (for
        readers of the lake, such as activation)."""
        (self._recorded if recorded else self._decided).append(callback)

    def publish(self, changes: list[Change]) -> None:
        if changes:
            for callback in self._decided:
                callback(changes)

    def publish_recorded(self, changes: list[Change]) -> None:
        if changes:
            for callback in self._recorded:
                callback(changes)
