"""What an audience may name: the fields of each scope, their types, and which relations a scope reaches."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from accord.audiences.ast import Between, Compare, InValues, IsNull, Scalar
from accord.model.entities import ColumnType, Entity
from accord.model.schema import STANDARD, Schema
from accord.profiles.build import attributes

PROPERTIES = "properties"
"""An event's properties (JSON): `properties.plan`, `properties.utm.campaign`, `properties."Webpage URL"`."""
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def property_path(field: str) -> list[str] | None:
    """The keys of a property field (`properties.utm."Campaign Name"` → [utm, Campaign Name]); None for others."""
    if not field.startswith(PROPERTIES + "."):
        return None
    keys, rest = [], field[len(PROPERTIES) + 1:]
    while rest:
        if rest.startswith('"'):
            end = rest.index('"', 1)
            keys.append(rest[1:end])
            rest = rest[end + 1:]
        else:
            key, _, _ = rest.partition(".")
            keys.append(key)
            rest = rest[len(key):]
        if rest.startswith("."):
            rest = rest[1:]
        elif rest:
            raise ValueError(f"{field!r} is no property path")
    return keys


def literals(cond: Compare | InValues | IsNull | Between) -> list[Scalar]:
    """The values a field test compares with."""
    if isinstance(cond, Compare):
        return [cond.value]
    if isinstance(cond, InValues):
        return list(cond.values)
    return [cond.low, cond.high] if isinstance(cond, Between) else []


def property_kind(cond: Compare | InValues | IsNull | Between) -> ColumnType:
    """How a test reads an event property: as true/false or a number when compared with one, else as text."""
    values = literals(cond)
    if not values or (isinstance(cond, Compare) and cond.op in ("contains", "starts with", "ends with")):
        return ColumnType.STRING
    if isinstance(values[0], bool):
        return ColumnType.BOOLEAN
    return ColumnType.NUMBER if isinstance(values[0], (int, float)) else ColumnType.STRING


def property_field(keys: list[str]) -> str:
    """The field naming the property at `keys`, quoting keys that are not plain words."""
    return ".".join([PROPERTIES, *(k if _PLAIN_KEY.fullmatch(k) else f'"{k}"' for k in keys)])


OPPORTUNITY_FIELDS = (
    "name", "stage", "amount", "currency_code", "close_date", "is_closed", "is_won", "probability",
    "opportunity_type", "lead_source", "forecast_category", "created_at",
)
"""An opportunity's own fields an audience may test (its keys and lineage are not); custom fields come too."""

RELATIONS: dict[str, tuple[str, ...]] = {
    "person": ("opportunity", "event"),
    "account": ("opportunity", "event", "person"),
    "opportunity": (),
    "event": (),
}


@dataclass(frozen=True)
class Scope:
    """Where a condition is evaluated: `entity` is person, account, opportunity or event, in a `schema`."""

    entity: str
    audience_of: str  # person or account: an opportunity of a person knows the person's role on it
    schema: Schema = STANDARD

    def fields(self) -> dict[str, ColumnType]:
        if self.entity == "person":
            person = self.schema.entity("person")
            own = _typed(person, attributes(person)) | {"person_id": ColumnType.STRING}
            return own | {f"account.{k}": v for k, v in self.account_fields().items()}
        if self.entity == "account":
            return self.account_fields()
        if self.entity == "opportunity":
            out = _typed(self.schema.entity("opportunity"), opportunity_fields(self.schema))
            if self.audience_of == "person":
                out |= {"role": ColumnType.STRING, "is_primary": ColumnType.BOOLEAN}
            return out
        if self.entity == "event":
            return _typed(self.schema.entity("event"), ["event_type", "url", "timestamp"])
        return _typed(self.schema.entity(self.entity), [f.name for f in self.schema.custom_of(self.entity)])

    def account_fields(self) -> dict[str, ColumnType]:
        account = self.schema.entity("account")
        return _typed(account, attributes(account)) | {"account_id": ColumnType.STRING}

    def field_type(self, name: str) -> ColumnType:
        """The field's type; an event property is JSON: compared as the value it is compared with."""
        if self.entity == "event" and property_path(name):
            return ColumnType.JSON
        known = self.fields()
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise KeyError(f"{self.entity} has no field {name!r}{hint}")
        return known[name]

    def relations(self) -> tuple[str, ...]:
        """What a condition here may quantify over: Accord's relations and, from a person or an account, every
        custom object (a person reaches its accounts' objects, an account its people's)."""
        objects = tuple(o.name for o in self.schema.objects) if self.entity in ("person", "account") else ()
        return RELATIONS.get(self.entity, ()) + objects

    def relation(self, name: str) -> Scope:
        allowed = self.relations()
        if name not in allowed:
            reach = ", ".join(allowed) or "nothing"
            raise KeyError(f"a condition on {self.entity} cannot reach {name!r} (it reaches {reach})")
        return Scope(name, self.audience_of, self.schema)


def opportunity_fields(schema: Schema) -> list[str]:
    return [*OPPORTUNITY_FIELDS, *(f.name for f in schema.custom_of("opportunity"))]


def _typed(entity: Entity, names: list[str]) -> dict[str, ColumnType]:
    return {n: entity.column(n).type for n in names}
