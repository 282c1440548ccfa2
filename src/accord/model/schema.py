"""A workspace's model: Accord's entities plus the custom fields the workspace declares on them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from accord.model.entities import ENTITIES, Column, ColumnType, Entity

CUSTOM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
CUSTOM_TYPES = ("string", "number", "integer", "boolean", "date", "timestamp", "string_list")


class CustomField(BaseModel):
    """One custom field, declared once per workspace (`custom_fields:` in accord.yaml or its schema file)."""

    model_config = ConfigDict(extra="forbid")

    entity: Literal[tuple(ENTITIES)] = Field(description="The entity that carries it: account, person, ...")  # type: ignore[valid-type]
    name: str = Field(description="Its name in mappings, audiences and exports, e.g. ABM_Tier__c.")
    type: Literal[CUSTOM_TYPES] = Field(default="string", description="string, number, integer, boolean, date, "  # type: ignore[valid-type]
                                                                      "timestamp or string_list.")
    label: str = Field(default="", description="What people call it, e.g. ABM Tier.")
    description: str = Field(default="", description="What it means, for the people who pick it in an audience.")

    @model_validator(mode="after")
    def _usable_name(self) -> CustomField:
        if not CUSTOM_NAME.match(self.name):
            raise ValueError(f"custom field name {self.name!r}: start with a letter; use letters, digits and _")
        standard = {c.name.lower() for c in ENTITIES[self.entity].all_columns}
        if self.name.lower() in standard:
            raise ValueError(f"{self.entity}.{self.name} is a standard field already; give the custom one another name")
        return self

    @property
    def column(self) -> Column:
        return Column(self.name, ColumnType(self.type), doc=self.description, custom=True, label=self.label)

    @property
    def qualified(self) -> str:
        return f"{self.entity}.{self.name}"


@dataclass(frozen=True)
class Schema:
    """The entities as one workspace (or one sandbox's store) has them."""

    custom: tuple[CustomField, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for f in self.custom:
            if f.qualified.lower() in seen:
                raise ValueError(f"custom field {f.qualified} is declared twice")
            seen.add(f.qualified.lower())

    def entity(self, name: str) -> Entity:
        """The entity called `name` with its custom fields, or a clear error listing the known ones."""
        if name not in ENTITIES:
            raise ValueError(f"unknown entity {name!r}; known entities: {', '.join(ENTITIES)}")
        return ENTITIES[name].with_columns(tuple(f.column for f in self.custom if f.entity == name))

    @property
    def entities(self) -> dict[str, Entity]:
        return {name: self.entity(name) for name in ENTITIES}

    def custom_of(self, entity: str) -> tuple[CustomField, ...]:
        return tuple(f for f in self.custom if f.entity == entity)


STANDARD = Schema()
"""Accord's model with no custom fields."""
