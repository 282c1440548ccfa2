"""What an audience may name: the fields of each scope, their types, and which relations a scope reaches."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from accord.model.entities import (
    ACCOUNT,
    EVENT,
    OPPORTUNITY,
    PERSON,
    ColumnType,
    Entity,
)
from accord.profiles.build import attributes

RELATIONS: dict[str, tuple[str, ...]] = {
    "person": ("opportunity", "event"),
    "account": ("opportunity", "event", "person"),
    "opportunity": (),
    "event": (),
}


@dataclass(frozen=True)
class Scope:
    """Where a condition is evaluated: `entity` is person, account, opportunity or event."""

    entity: str
    audience_of: str  # person or account: an opportunity of a person knows the person's role on it

    def fields(self) -> dict[str, ColumnType]:
        if self.entity == "person":
            own = _typed(PERSON, attributes(PERSON)) | {"person_id": ColumnType.STRING}
            return own | {f"account.{k}": v for k, v in self.account_fields().items()}
        if self.entity == "account":
            return self.account_fields()
        if self.entity == "opportunity":
            names = ["name", "stage", "amount", "currency_code", "close_date", "is_closed", "is_won", "probability",
                     "opportunity_type", "lead_source", "forecast_category", "created_at"]
            out = _typed(OPPORTUNITY, names)
            if self.audience_of == "person":
                out |= {"role": ColumnType.STRING, "is_primary": ColumnType.BOOLEAN}
            return out
        return _typed(EVENT, ["event_type", "url", "timestamp"])

    @staticmethod
    def account_fields() -> dict[str, ColumnType]:
        return _typed(ACCOUNT, attributes(ACCOUNT)) | {"account_id": ColumnType.STRING}

    def field_type(self, name: str) -> ColumnType:
        known = self.fields()
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise KeyError(f"{self.entity} has no field {name!r}{hint}")
        return known[name]

    def relation(self, name: str) -> Scope:
        allowed = RELATIONS[self.entity]
        if name not in allowed:
            reach = ", ".join(allowed) or "nothing"
            raise KeyError(f"a condition on {self.entity} cannot reach {name!r} (it reaches {reach})")
        return Scope(name, self.audience_of)


def _typed(entity: Entity, names: list[str]) -> dict[str, ColumnType]:
    return {n: entity.column(n).type for n in names}
