"""The `governance:` section of accord.yaml: custom labels and actions, the labels on fields, entities and
sources, the policies, and how long events are kept."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[A-Za-z][A-Za-z0-9_]*$"
MAX_DAYS = 36_500
"""A hundred years: longer is for ever, and further back than any date can be counted."""


class CustomLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="The label, e.g. PARTNER_DATA.")
    description: str = Field(default="", description="What it restricts, in words.")


class CustomAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="The marketing action, e.g. direct_mail.")
    description: str = Field(default="", description="What a destination performing it does with the data.")


class Policy(BaseModel):
    """Deny one marketing action for data carrying any of `any_of` (OR), or all of `all_of` (AND)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Named in every violation it causes.")
    deny: str = Field(description="The marketing action denied.")
    any_of: list[str] = Field(default_factory=list, description="Labels of which one is enough.")
    all_of: list[str] = Field(default_factory=list, description="Labels that together are denied.")
    description: str = Field(default="", description="Why, in words.")
    enabled: bool = Field(default=True, description="Off: kept, not enforced.")

    @model_validator(mode="after")
    def _one_condition(self) -> Policy:
        if bool(self.any_of) == bool(self.all_of):
            raise ValueError(f"policy {self.name!r}: give labels under exactly one of any_of and all_of")
        return self

    @property
    def labels(self) -> list[str]:
        return self.any_of or self.all_of


class RetentionConfig(BaseModel):
    """How long events are kept (`governance.retention` in accord.yaml): by default, for ever in the store, and 7
    days in the collector log once loaded."""

    model_config = ConfigDict(extra="forbid")

    event_days: int | None = Field(default=None, ge=1, le=MAX_DAYS, description="Days an event is kept, counted "
                                                                                "from its timestamp; none: kept for "
                                                                                "ever.")
    event_days_by_type: dict[str, int] = Field(default_factory=dict, description="Days kept per event type "
                                                                                 "(web.pageview: 90), over "
                                                                                 "event_days.")
    collector_log_days: int | None = Field(
        default=7, ge=1, le=MAX_DAYS,
        description="Days a segment of the collector log is kept once the store has loaded it and nothing is "
                    "written to it; none: kept for ever (a store put back from a backup replays the log from where "
                    "it left off, as far as the log goes).")

    @field_validator("event_days_by_type")
    @classmethod
    def _whole_days(cls, kept: dict[str, int]) -> dict[str, int]:
        for event_type, days in kept.items():
            if not event_type.strip() or not 1 <= days <= MAX_DAYS:
                raise ValueError(f"{event_type[:80]!r}: {days}: give an event type and from 1 to {MAX_DAYS} days "
                                 "(leave the type out to keep its events for ever)")
        return kept

    @property
    def limited(self) -> bool:
        """Is any event kept for a limited time?"""
        return self.event_days is not None or bool(self.event_days_by_type)

    def days(self, event_type: str) -> int | None:
        """Days an event of this type is kept (None: for ever)."""
        return self.event_days_by_type.get(event_type, self.event_days)


class GovernanceConfig(BaseModel):
    """Labels say what data may not be used for; a destination's marketing actions say what it does with data;
    a policy denies an action for labels."""

    model_config = ConfigDict(extra="forbid")

    labels: list[CustomLabel] = Field(default_factory=list, description="Labels beyond the core C1–C12, I1–I2, S1–S2.")
    marketing_actions: list[CustomAction] = Field(default_factory=list,
                                                  description="Marketing actions beyond the core ones.")
    fields: dict[str, list[str]] = Field(default_factory=dict,
                                         description="`entity.field` → labels, e.g. {person.phone: [I1]}.")
    entities: dict[str, list[str]] = Field(default_factory=dict,
                                           description="Entity → labels every field of it carries.")
    sources: dict[str, list[str]] = Field(default_factory=dict,
                                          description="Source name → labels every field it loads carries.")
    policies: list[Policy] = Field(default_factory=list, description="The organisation's own policies.")
    core_policies: bool = Field(default=True, description="Enforce the core policies (C2 × export to third "
                                                          "party, C12 × export, ...).")
    retention: RetentionConfig = Field(default_factory=RetentionConfig,
                                       description="How long events are kept (by default, for ever).")
