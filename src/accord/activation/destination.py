"""What every destination declares and implements: its settings shared by all (`DestinationBase`), what it can do,
and what it answers per member."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from accord.connectors.errors import ConnectorError
from accord.connectors.pacing import MAX_WAIT_SECONDS
from accord.model.names import page_name_problem
from accord.schedules import cron_problem


class AudienceKindMismatch(ValueError):
    """An audience of people sent where only accounts go, or the other way round."""


class DestinationBase(BaseModel):
    """What every destination's settings hold: which audiences of which sandboxes go there, when, how hard to
    retry, and which fields each member carries."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Name of the destination, unique in the workspace.")
    audiences: list[str] = Field(description="Names of the audiences sent here.")
    sandboxes: list[str] = Field(default_factory=lambda: ["prod"], description="Sandboxes whose memberships are sent.")
    schedule: str = Field(default="streaming",
                          description="`streaming` (within a second of a change, under `accord serve`) or a cron.")
    max_attempts: int = Field(default=5, ge=1, description="Tries per change before it goes to the dead-letter list.")
    backoff_seconds: float = Field(default=1.0, gt=0, description="First retry pause; doubles each attempt.")
    max_wait_seconds: float = Field(default=MAX_WAIT_SECONDS, gt=0, le=3600,
                                    description="Longest pause a run takes between tries. When the destination asks "
                                                "for a longer one (Retry-After), its changes are kept as `retrying` "
                                                "and sent by a later run, so no run stalls for hours.")
    fields: list[str] = Field(default_factory=lambda: ["email"], description="Profile attributes each member carries.")
    field_names: dict[str, str] = Field(default_factory=dict,
                                        description="Profile attribute → the name the destination receives it under, "
                                                    "e.g. {email: Email Address}; others keep their own names.")
    paused: bool = Field(default=False, description="Kept in accord.yaml but not sent to by `accord run`, "
                                                    "`accord serve` or a run of every destination; naming it "
                                                    "still runs it.")
    marketing_actions: list[str] | None = Field(
        default=None, description="What this destination does with the data (export, export_to_third_party, "
                                  "cross_site_targeting, email_targeting, ...), which policies are checked against; "
                                  "default: its type's own.")

    takes: ClassVar[tuple[str, ...]] = ("person", "account")
    """The kinds of audience it receives: people, accounts, or both."""
    actions: ClassVar[tuple[str, ...]] = ("export",)
    """The marketing actions a destination of this type performs unless `marketing_actions` says otherwise."""
    keeps_files: ClassVar[bool] = False
    """Leaves files Accord wrote (exports): its destination's `erase(profile_ids, values)` rewrites them without a
    person (privacy)."""

    @property
    def performs(self) -> list[str]:
        return list(self.marketing_actions if self.marketing_actions is not None else self.actions)

    def minds_kinds(self) -> bool:
        """Whether an audience's kind may be refused here (so the audiences' kinds must be read to load it)."""
        return set(self.takes) != {"person", "account"}

    def refuse_kinds(self, kinds: Mapping[str, str]) -> None:
        """Refuse the audiences (name → person or account) this destination lists but cannot receive, naming the
        destinations that can."""
        from accord.connectors.registry import with_destinations

        wrong = {name: kind for name, kind in kinds.items() if name in self.audiences and kind not in self.takes}
        for name, kind in sorted(wrong.items()):
            able = ", ".join(c.type for c in with_destinations() if kind in c.destination.takes)  # type: ignore[union-attr]
            article = "an" if kind[0] in "aeiou" else "a"
            raise AudienceKindMismatch(
                f"destination {self.name!r} ({self.type}) takes {' and '.join(self.takes)} audiences only; "
                f"{name!r} is {article} {kind} audience: send it to a destination that takes those ({able})")

    def sent_as(self, field: str) -> str:
        """The name a destination receives a profile attribute under."""
        return self.field_names.get(field, field)

    @model_validator(mode="after")
    def _names_sent_once(self) -> DestinationBase:
        # A rename of a field not sent would never apply; two fields sent under one name would lose one's values.
        unsent = [f for f in self.field_names if f not in self.fields]
        if unsent:
            raise ValueError(f"field_names renames {', '.join(map(repr, unsent))}, which fields does not send "
                             f"({', '.join(self.fields)})")
        names = [self.sent_as(f) for f in self.fields]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two fields would be sent under one name ({', '.join(map(repr, twice))}): one's values "
                             "would replace the other's; rename one in field_names")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if problem := page_name_problem(value, "destination"):  # its page, and the API's run and retry, go by it
            raise ValueError(problem)
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if value != "streaming" and (problem := cron_problem(value)):
            raise ValueError(f"schedule {value!r} is neither `streaming` nor a cron expression that runs: it {problem}")
        return value


@dataclass(frozen=True)
class Capabilities:
    """What a destination accepts; the sync engine reads these instead of asking what type it is."""

    needs: tuple[str, ...]
    """Member fields of which at least one must be present (else `excluded: missing_identity`)."""
    batch_size: int
    """Members per add or remove call."""
    can_check: bool = False
    """Can say which members a change already reached (used to settle changes a killed run left in flight)."""
    commits_at_finish: bool = False
    """Nothing is visible until `finish` succeeds (files): receipts and acknowledgements wait for it."""
    wants_snapshot: bool = False
    """`finish` receives every current member, not only the changes."""
    identities: tuple[str, ...] = ()
    """Identity namespaces whose values each member carries (`crm_id` → the field `crm_ids`)."""
    org: str | None = None
    """The Salesforce org whose ids `crm_ids` holds: the ids of another org's records are left out (when the store
    holds records of this org; else it cannot tell whose an id is)."""
    concurrent_batches: int = 1
    """Batches sent at once (each its own calls; the destination's client keeps within its own limits)."""
    updates: bool = False
    """Is told when a member it holds is now sent differently (a new e-mail, another Marketo lead after a merge):
    `update` receives the member's fields now and the key it holds."""
    reports_reach: bool = False
    """Says how many of an audience's members it matched and can show ads to (ad platforms): `reach` is asked at
    the end of a run, for each audience not read in the last `activation.reach.READ_EVERY`."""


@dataclass
class Member:
    """One profile as a destination sees it: its id, the fields it carries, what the destination keyed it by, and
    whether it is a person or an account."""

    profile_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    kind: str = "person"


@dataclass
class Outcome:
    """What became of one member's change: added, removed, skipped (with reason) or failed (with error)."""

    profile_id: str
    status: str
    reason: str | None = None
    key: str | None = None
    retry: bool = False


@dataclass(frozen=True)
class Reach:
    """What an ad platform says of the list an audience is sent to: its state there, and how many it matched."""

    state: str
    """The platform's own word for the list (READY, BUILDING, OPEN, ...), or its delivery status."""
    matched: int | None = None
    """Members the platform found among those it was sent, when it says."""
    uploaded: int | None = None
    """Members it counts as sent, when it says."""
    size_low: int | None = None
    size_high: int | None = None
    """The size it reports for targeting: a range, or one estimate as both ends (None: not known yet)."""
    match_rate: float | None = None
    """Percent of those sent that it matched: as the platform says, or from its counts."""
    usable: bool | None = None
    """False when the platform will not serve ads on the list as it stands (too small, failed, expired, closed,
    restricted); None when it does not say."""
    note: str | None = None
    """Why it is not usable, or anything else worth knowing."""


class DeliveryError(ConnectorError):
    """A whole call failed (an unreachable destination's changes wait for a later run, not the dead letters)."""


class Destination(Protocol):
    capabilities: Capabilities

    def check(self) -> dict[str, int]:
        """What it reaches, counted (`accord deliveries check`; no member is sent); DeliveryError when it cannot."""
        ...

    def add(self, audience: str, members: list[Member]) -> list[Outcome]: ...

    def remove(self, audience: str, members: list[Member]) -> list[Outcome]: ...

    def update(self, audience: str, members: list[Member]) -> list[Outcome]:
        """Members it holds (`key`: what it holds them by) with their fields now: `updated` with the new key, or
        `removed` when they can no longer be matched; asked when `updates`."""
        ...

    def reached(self, audience: str, members: list[Member], change: str, run_id: int) -> dict[str, str | None]:
        """Profile id → destination key, for members whose change (sent by run `run_id`) already took effect; asked
        when `can_check`."""
        ...

    def finish(self, audience: str, run_id: int, snapshot: list[Member]) -> None: ...

    def reach(self, audience: str) -> Reach | None:
        """What the platform says of the audience's list (None: it holds none yet); asked when `reports_reach`."""
        ...

    def close(self) -> None: ...


def key_ids(key: str | None) -> list[str]:
    """The record ids a member's key holds (`,` between them): what a list destination added it as."""
    return [i for i in (key or "").split(",") if i]


def reached_on_list(ids: dict[str, list[str]], on_list: set[str], change: str) -> dict[str, str | None]:
    """What a change reached on a list that holds `on_list` (record ids), from each profile's record ids: added,
    the ids on the list (the key); removed, none of them left."""
    if change == "add":
        return {p: ",".join(i for i in v if i in on_list) for p, v in ids.items() if set(v) & on_list}
    return {p: None for p, v in ids.items() if not set(v) & on_list}


def update_by_adding(destination: Destination, audience: str, members: list[Member],
                     separator: str | None = None) -> list[Outcome]:
    """An update as a destination whose adds are idempotent makes it: the member added as it is now, then the
    parts of the old key (split by `separator`) the new one no longer holds removed. Adding first keeps a member
    whose key did not change on the list throughout."""
    def parts(key: str | None) -> list[str]:
        return [p for p in (key or "").split(separator) if p] if separator else [key] if key else []

    added = {o.profile_id: o for o in destination.add(audience, [replace(m, key=None) for m in members])}
    outcomes: list[Outcome] = []
    stale: list[Member] = []
    for member in members:
        outcome = added[member.profile_id]
        kept = parts(outcome.key) if outcome.status == "added" else []
        gone = [p for p in parts(member.key) if p not in kept]
        if gone:
            stale.append(replace(member, fields={}, key=(separator or "").join(gone)))
        if outcome.status == "added":
            outcomes.append(Outcome(member.profile_id, "updated", key=outcome.key))
        elif outcome.status == "skipped":  # no longer matched: what it held goes
            outcomes.append(Outcome(member.profile_id, "removed", outcome.reason))
        else:
            outcomes.append(outcome)
    removed = {o.profile_id: o for o in destination.remove(audience, stale)} if stale else {}
    failed = {p for p, o in removed.items() if o.status == "failed"}
    # A stale part left behind: the update is tried again whole (the add is idempotent).
    return [Outcome(o.profile_id, "failed", removed[o.profile_id].reason, retry=True) if o.profile_id in failed
            else o for o in outcomes]
