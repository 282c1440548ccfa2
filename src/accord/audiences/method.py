"""Evaluation method, derived not chosen: `streaming` when the stream evaluator can keep an audience current
event by event from per-person state, `batch` otherwise; with the reason."""

from __future__ import annotations

from accord.audiences.ast import Aggregate, Audience, InAudience, Quantified, walk


def evaluation_method(audience: Audience, by_name: dict[str, Audience]) -> tuple[str, str]:
    if audience.of == "account":
        return "batch", "an account audience aggregates over the account's people: evaluated in batch"
    for node in walk(audience.where):
        if isinstance(node, (Quantified, Aggregate)) and node.relation == "opportunity":
            what = f"opportunity {node.field}" if isinstance(node, Aggregate) and node.field else "opportunities"
            return "batch", f"uses {what}: multi-entity, kept current by batch evaluation"
        if isinstance(node, InAudience):
            target = by_name.get(node.name)
            if target is not None and evaluation_method(target, by_name)[0] == "batch":
                return "batch", f"uses audience {node.name!r}, which is evaluated in batch"
    return "streaming", "person fields, account fields, memberships and event counters only: kept current per event"
