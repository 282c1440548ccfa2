"""Which labels a field carries and why: its own, its entity's, and those of every configured source that loads
the entity; and a check that accord.yaml's governance names only fields, labels, actions and sources that exist."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cache, cached_property

from accord.governance.config import GovernanceConfig
from accord.governance.vocabulary import CORE_ACTIONS, CORE_LABELS
from accord.model.schema import Schema


class GovernanceError(ValueError):
    """accord.yaml's governance names a field, label, action or source that does not exist."""


@dataclass(frozen=True)
class Labelled:
    """One label on one field, and why it is there (`field person.phone`, `source marketo-demo`)."""

    label: str
    because: str


@dataclass
class Labels:
    """The labels of a workspace's fields, from its governance settings, schema and sources."""

    config: GovernanceConfig
    schema: Schema
    sources: dict[str, str] = field(default_factory=dict)
    """Configured source name → its type (the shipped mappings of the type say which entities it loads)."""

    @cached_property
    def declared(self) -> bool:
        """Whether anything carries a label: without one no policy can apply, and nothing needs tracing."""
        return any(self.config.fields.values()) or any(self.config.entities.values()) or any(
            self.config.sources.values())

    @cached_property
    def known_labels(self) -> dict[str, str]:
        return CORE_LABELS | {label.name: label.description for label in self.config.labels}

    @cached_property
    def known_actions(self) -> dict[str, str]:
        return CORE_ACTIONS | {action.name: action.description for action in self.config.marketing_actions}

    def of(self, entity: str, name: str) -> list[Labelled]:
        """The labels `entity.name` carries, each with its reason, sorted by label."""
        found = [Labelled(label, f"field {entity}.{name}") for label in self.config.fields.get(f"{entity}.{name}", [])]
        found += [Labelled(label, f"entity {entity}") for label in self.config.entities.get(entity, [])]
        for source, labels in self.config.sources.items():
            if entity in self._loads(source):
                found += [Labelled(label, f"source {source}") for label in labels]
        return sorted(set(found), key=lambda item: (item.label, item.because))

    def fields(self, entity: str | None = None, labelled: bool = False) -> list[tuple[str, str, str, list[Labelled]]]:
        """(entity, field, type, its labels) of every field (of `entity`), or only those carrying a label."""
        out = []
        for name, model in self.schema.entities.items():
            if entity is None or name == entity:
                for column in model.columns:
                    found = self.of(name, column.name)
                    if found or not labelled:
                        out.append((name, column.name, column.type.value, found))
        return out

    def check(self) -> None:
        """Refuse settings naming what does not exist, with the nearest name that does."""
        for key, labels in self.config.fields.items():
            entity, _, name = key.partition(".")
            self._entity(entity, f"fields: {key}")
            columns = [c.name for c in self.schema.entity(entity).columns]
            if name not in columns:
                raise GovernanceError(f"governance fields: {entity} has no field {name!r}{_hint(name, columns)}")
            self._labels(labels, f"fields: {key}")
        for entity, labels in self.config.entities.items():
            self._entity(entity, f"entities: {entity}")
            self._labels(labels, f"entities: {entity}")
        for source, labels in self.config.sources.items():
            if source not in self.sources:
                raise GovernanceError(f"governance sources: no source {source!r} is configured"
                                      f"{_hint(source, list(self.sources))}")
            self._labels(labels, f"sources: {source}")
        for policy in self.config.policies:
            self._labels(policy.labels, f"policy {policy.name!r}")
            if policy.deny not in self.known_actions:
                raise GovernanceError(f"governance policy {policy.name!r}: unknown marketing action "
                                      f"{policy.deny!r}{_hint(policy.deny, list(self.known_actions))}")

    def check_actions(self, actions: list[str], where: str) -> None:
        for action in actions:
            if action not in self.known_actions:
                raise GovernanceError(f"{where}: unknown marketing action {action!r}"
                                      f"{_hint(action, list(self.known_actions))}; declare it under governance: "
                                      "marketing_actions")

    def _loads(self, source: str) -> set[str]:
        return _entities_of(self.sources.get(source) or "")

    def _entity(self, entity: str, where: str) -> None:
        known = list(self.schema.entities)
        if entity not in known:
            raise GovernanceError(f"governance {where}: unknown entity {entity!r}{_hint(entity, known)}")

    def _labels(self, labels: list[str], where: str) -> None:
        for label in labels:
            if label not in self.known_labels:
                raise GovernanceError(f"governance {where}: unknown label {label!r}"
                                      f"{_hint(label, list(self.known_labels))}; declare it under governance: labels")


@cache
def _entities_of(source_type: str) -> frozenset[str]:
    """The entities a source type's shipped mappings load (read once: they ship with Accord)."""
    from accord.sources.mappings import builtin_mappings, resolve_mapping

    return frozenset(resolve_mapping(ref).entity for ref in builtin_mappings() if ref.split("/")[0] == source_type)


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
