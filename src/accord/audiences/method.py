"""Evaluation method, derived not chosen: `streaming` when the stream evaluator can keep an audience current as
records and events arrive, `batch` otherwise; with the reason."""

from __future__ import annotations

from accord.audiences.ast import Audience, InAudience, walk


def evaluation_method(audience: Audience, by_name: dict[str, Audience],
                      seen: frozenset[str] = frozenset()) -> tuple[str, str]:
    """`seen`: the audiences on the way here, so a cycle of references (which no evaluation accepts, but a listing
    shows) ends."""
    if audience.of == "account":
        return "batch", "an account audience aggregates over the account's people: evaluated in batch"
    for node in walk(audience.where):
        if isinstance(node, InAudience) and node.name not in seen:
            target = by_name.get(node.name)
            if target is not None and evaluation_method(target, by_name, seen | {audience.name})[0] == "batch":
                return "batch", f"uses audience {node.name!r}, which is evaluated in batch"
    return "streaming", (
        "a person audience: re-decided whenever the person's records, events, memberships, accounts or "
        "opportunities change, and when time moves an event across one of its windows"
    )
