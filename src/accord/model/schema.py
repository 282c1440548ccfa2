"""A workspace's model: Accord's entities plus the custom fields the workspace declares on them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from accord.model.entities import (
    ENTITIES,
    LINEAGE_COLUMNS,
    SOURCE_KEY_COLUMNS,
    Column,
    ColumnType,
    Entity,
)

CUSTOM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
DERIVED_TABLES = re.compile(r"^(aud_\w*|\w+_profile|profile_lineage|person_account(_stated)?)$", re.IGNORECASE)
"""Tables the stages build from the records, which a custom object's table would collide with."""
CUSTOM_TYPES = ("string", "number", "integer", "boolean", "date", "timestamp", "string_list")
DERIVED_NAMES = {
    "person": {"person_id", "records", "last_updated_at"},
    "account": {"account_id", "records", "last_updated_at"},
    "opportunity": {"person_id", "account_id", "role", "roles", "is_primary"},
    "event": {"person_id", "account_id", "event_id"},
    "campaign_member": {"person_id", "campaign"},
    "marketing_list_member": {"person_id", "list"},
}
"""Per entity, the columns Accord adds beside its fields in the profiles and the audiences' tables: a custom field
of that name would be shadowed there (a person's fields also sit beside their account's, each as `acc_<field>`)."""


class CustomField(BaseModel):
    """One custom field, declared once per workspace (`custom_fields:` in accord.yaml or its schema file)."""

    model_config = ConfigDict(extra="forbid")

    entity: str = Field(description="The entity that carries it: account, person, ... or a custom object.")
    name: str = Field(description="Its name in mappings, audiences and exports, e.g. ABM_Tier__c.")
    type: Literal[CUSTOM_TYPES] = Field(default="string", description="string, number, integer, boolean, date, "  # type: ignore[valid-type]
                                                                      "timestamp or string_list.")
    label: str = Field(default="", description="What people call it, e.g. ABM Tier.")
    description: str = Field(default="", description="What it means, for the people who pick it in an audience.")

    @model_validator(mode="after")
    def _usable_name(self) -> CustomField:
        if not CUSTOM_NAME.match(self.name):
            raise ValueError(f"custom field name {self.name!r}: start with a letter; use letters, digits and _")
        own = ENTITIES[self.entity].all_columns if self.entity in ENTITIES else OBJECT_COLUMNS
        if self.name.lower() in {c.name.lower() for c in own}:
            raise ValueError(f"{self.entity}.{self.name} is a standard field already; give the custom one another name")
        derived = DERIVED_NAMES.get(self.entity, set())
        if self.name.lower() in derived or (self.entity == "person" and self.name.lower().startswith("acc_")):
            raise ValueError(f"{self.entity}.{self.name} is a name Accord gives a column of its own beside the "
                             f"{self.entity}'s fields ({', '.join(sorted(derived))}"
                             f"{', acc_<account field>' if self.entity == 'person' else ''}): audiences would read "
                             "that column instead; give the custom field another name")
        return self

    @property
    def column(self) -> Column:
        return Column(self.name, ColumnType(self.type), doc=self.description, custom=True, label=self.label)

    @property
    def qualified(self) -> str:
        return f"{self.entity}.{self.name}"


OBJECT_COLUMNS = SOURCE_KEY_COLUMNS + LINEAGE_COLUMNS + (Column("account_key"), Column("person_key"))
"""The columns every custom object has besides its fields: source key, lineage and the key it relates by."""


class ObjectField(BaseModel):
    """A field of a custom object."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Its name, e.g. Seats__c.")
    type: Literal[CUSTOM_TYPES] = Field(default="string", description="As for custom fields.")  # type: ignore[valid-type]
    label: str = Field(default="", description="What people call it.")
    description: str = Field(default="", description="What it means.")


class CustomObject(BaseModel):
    """A custom object (Salesforce `Subscription__c`, ...): records related to a person or an account."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Its entity name, in audiences (`any Subscription__c (...)`) and by default the "
                                  "Salesforce object it is read from.")
    related_to: Literal["account", "person"] = Field(description="Whose records these are.")
    relation_column: str = Field(description="The input column holding the related record's id (a lookup field, "
                                             "e.g. Account__c).")
    label: str = Field(default="", description="What people call it, e.g. Subscription.")
    description: str = Field(default="", description="What a record of it is.")
    fields: list[ObjectField] = Field(default_factory=list, description="Its fields.")

    @model_validator(mode="after")
    def _usable_name(self) -> CustomObject:
        if not CUSTOM_NAME.match(self.name):
            raise ValueError(f"custom object name {self.name!r}: start with a letter; use letters, digits and _")
        if self.name.lower() in {*ENTITIES, *RESERVED}:
            raise ValueError(f"{self.name!r} is an entity or relation of Accord's model; name the object otherwise")
        if DERIVED_TABLES.match(self.name):
            raise ValueError(f"{self.name!r} is the name of a table the stages build (profiles, their links, the "
                             "audiences' aud_* tables); name the object otherwise")
        return self

    @property
    def key_column(self) -> str:
        return f"{self.related_to}_key"

    def entity(self) -> Entity:
        """The object's entity without its fields (a schema adds them, as custom fields of the object)."""
        key = Column(self.key_column, ColumnType.STRING, required=True, doc=f"Source key of the {self.related_to}.")
        return Entity(self.name, (key,), self.description or self.label or self.name,
                      references={self.key_column: self.related_to})

    def custom_fields(self) -> list[CustomField]:
        return [CustomField(entity=self.name, **f.model_dump()) for f in self.fields]


RESERVED = {"opportunity", "event", "person", "account", "campaign", "list", "audience"}


@dataclass(frozen=True)
class Schema:
    """The entities as one workspace (or one sandbox's store) has them."""

    custom: tuple[CustomField, ...] = ()
    objects: tuple[CustomObject, ...] = ()

    def __post_init__(self) -> None:
        names = [o.name.lower() for o in self.objects]
        if len(set(names)) != len(names):
            raise ValueError("a custom object is declared twice")
        seen: set[str] = set()
        for f in self.custom:
            if f.entity not in ENTITIES and f.entity not in {o.name for o in self.objects}:
                raise ValueError(f"custom field {f.qualified}: no entity or custom object {f.entity!r}")
            if f.qualified.lower() in seen:
                raise ValueError(f"custom field {f.qualified} is declared twice")
            seen.add(f.qualified.lower())

    def entity(self, name: str) -> Entity:
        """The entity called `name` with its custom fields, or a clear error listing the known ones."""
        custom = tuple(f.column for f in self.custom if f.entity == name)
        if name in ENTITIES:
            return ENTITIES[name].with_columns(custom)
        for obj in self.objects:
            if obj.name == name:
                return obj.entity().with_columns(custom)
        raise ValueError(f"unknown entity {name!r}; known entities: {', '.join(self.entities)}")

    @property
    def entities(self) -> dict[str, Entity]:
        return {name: self.entity(name) for name in [*ENTITIES, *(o.name for o in self.objects)]}

    def object(self, name: str) -> CustomObject | None:
        return next((o for o in self.objects if o.name == name), None)

    def objects_of(self, kind: str) -> tuple[CustomObject, ...]:
        """The custom objects related to people, or to accounts."""
        return tuple(o for o in self.objects if o.related_to == kind)

    def custom_of(self, entity: str) -> tuple[CustomField, ...]:
        return tuple(f for f in self.custom if f.entity == entity)


STANDARD = Schema()
"""Accord's model with no custom fields."""
