"""Policy checks: which policies a delivery of an audience to a destination would break, and the lineage path
that explains each (label → field → audience, through the audiences it names → destination and its action)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from accord.audiences.ast import Audience
from accord.governance.config import Policy
from accord.governance.labels import Labels
from accord.governance.lineage import Use, audience_uses, destination_uses
from accord.governance.vocabulary import CORE_POLICIES


class PolicyViolation(ValueError):
    """A save or a delivery that a policy denies; the message explains each violation."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(v.explain() for v in violations))
        self.violations = violations


@dataclass(frozen=True)
class Violation:
    policy: str
    action: str
    destination: str
    audience: str
    labels: tuple[str, ...]
    paths: tuple[str, ...]
    """One per labelled field that makes the policy apply: where the label is and how the field gets there."""
    through: tuple[str, ...] = ()
    """The audiences whose definitions read those fields."""

    def explain(self) -> str:
        return (f"policy {self.policy!r} denies {self.action} for {' and '.join(self.labels)}: destination "
                f"{self.destination!r} ({self.action}) gets audience {self.audience!r}, and "
                + "; ".join(self.paths))

    def as_dict(self) -> dict[str, object]:
        return {"policy": self.policy, "action": self.action, "destination": self.destination,
                "audience": self.audience, "labels": list(self.labels), "paths": list(self.paths),
                "explanation": self.explain()}


def enforced(labels: Labels) -> list[Policy]:
    """The policies in force: the core ones (unless turned off) and the organisation's enabled ones."""
    core = [Policy(name=name, deny=action, any_of=[label], description=labels.known_labels[label])
            for label, action, name in CORE_POLICIES] if labels.config.core_policies else []
    return core + [p for p in labels.config.policies if p.enabled]


def violations(labels: Labels, destination: str, actions: list[str], audience: Audience,
               by_name: Mapping[str, Audience], sent: list[str]) -> list[Violation]:
    """What sending `audience` to a destination performing `actions`, each member carrying the `sent`
    attributes, would break."""
    uses = [*destination_uses(sent, audience.of, labels.schema), *audience_uses(audience, labels.schema, by_name)]
    found: dict[str, list[tuple[str, Use]]] = {}
    for use in uses:
        for labelled in labels.of(use.entity, use.field):
            found.setdefault(labelled.label, []).append((_path(labelled.label, labelled.because, use), use))
    performed = set(actions)
    if any(use.via == () and any(item.label == "I1" for item in labels.of(use.entity, use.field)) for use in uses):
        performed.add("combine_with_pii")  # identifying fields go with every member
    out = []
    for policy in enforced(labels):
        if policy.deny not in performed:
            continue
        hit = [label for label in policy.labels if label in found]
        if (policy.any_of and hit) or (policy.all_of and len(hit) == len(policy.all_of)):
            paths = [entry for label in hit for entry in found[label]]
            through = list(dict.fromkeys(name for _, use in paths for name in use.via))
            out.append(Violation(policy.name, policy.deny, destination, audience.name, tuple(hit),
                                 tuple(path for path, _ in paths), tuple(through)))
    return out


def _path(label: str, because: str, use: Use) -> str:
    where = f"{label} is on {use.name}" + ("" if because == f"field {use.name}" else f" (from its {because})")
    if not use.via:
        return f"{where}, which it sends with each member"
    through = f" through {' → '.join(repr(v) for v in use.via[1:])}" if len(use.via) > 1 else ""
    return f"{where}, which audience {use.via[0]!r} reads{through}"
