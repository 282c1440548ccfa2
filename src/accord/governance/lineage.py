"""Lineage for policies: the fields an audience's definition reads (through the audiences it names, to any depth)
and the fields a destination sends, each with the path that leads to it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from accord.audiences.ast import (
    Aggregate,
    And,
    Audience,
    Between,
    Compare,
    Condition,
    InAudience,
    InCampaign,
    InList,
    InValues,
    IsNull,
    Not,
    Occurrence,
    Or,
    Quantified,
)
from accord.audiences.fields import PROPERTIES, Scope
from accord.model.schema import Schema


@dataclass(frozen=True)
class Use:
    """A field read or sent, `entity.field`, and how: `via` names the audiences from the outermost inwards."""

    entity: str
    field: str
    via: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.entity}.{self.field}"


def audience_uses(audience: Audience, schema: Schema, by_name: Mapping[str, Audience]) -> list[Use]:
    """Every field the audience reads, and the fields of every audience it names (a missing one is skipped: it
    cannot be evaluated either)."""
    return sorted(set(_uses(audience, schema, by_name, (audience.name,))), key=lambda u: (u.via, u.entity, u.field))


def destination_uses(fields: list[str], kind: str, schema: Schema) -> list[Use]:
    """The profile attributes a destination sends with each member of a `kind` (person or account) audience."""
    columns = {c.name for c in schema.entity(kind).columns}
    return [Use(kind, name) for name in fields if name in columns]


def _uses(audience: Audience, schema: Schema, by_name: Mapping[str, Audience], via: tuple[str, ...]) -> Iterator[Use]:
    for entity, name, inner in _walk(audience.where, Scope(audience.of, audience.of, schema)):
        if inner is None:
            yield Use(entity, name, via)
        elif inner in by_name and inner not in via:  # a cycle cannot be evaluated, so reads nothing
            yield from _uses(by_name[inner], schema, by_name, (*via, inner))


def _walk(cond: Condition, scope: Scope) -> Iterator[tuple[str, str, str | None]]:
    """(entity, field, None) for each field read; ("", "", name) for each audience named."""
    if isinstance(cond, (Compare, InValues, IsNull, Between)):
        yield _field(scope, cond.field)
    elif isinstance(cond, (And, Or)):
        for item in cond.items:
            yield from _walk(item, scope)
    elif isinstance(cond, Not):
        yield from _walk(cond.item, scope)
    elif isinstance(cond, (Quantified, Aggregate)):
        inner = scope.relation(cond.relation)
        if isinstance(cond, Aggregate) and cond.field:
            yield _field(inner, cond.field)
        if cond.where is not None:
            yield from _walk(cond.where, inner)
        if isinstance(cond, Aggregate) or cond.window is not None:
            yield _field(inner, "timestamp" if inner.entity == "event" else "created_at")
    elif isinstance(cond, Occurrence):
        inner = Scope("event", scope.audience_of, scope.schema)
        yield ("event", "timestamp", None)
        if cond.where is not None:
            yield from _walk(cond.where, inner)
    elif isinstance(cond, InCampaign):
        yield ("campaign_member", "status" if cond.status else "campaign_key", None)
    elif isinstance(cond, InList):
        yield ("marketing_list_member", "marketing_list_key", None)
    elif isinstance(cond, InAudience):
        yield ("", "", cond.name)


def _field(scope: Scope, name: str) -> tuple[str, str, None]:
    if scope.entity == "person" and name.startswith("account."):
        return ("account", name[len("account."):], None)
    if scope.entity == "event" and name.startswith(PROPERTIES + "."):
        return ("event", PROPERTIES, None)
    if scope.entity == "opportunity" and name in ("role", "is_primary"):
        return ("opportunity_person", name, None)
    return (scope.entity, name, None)
