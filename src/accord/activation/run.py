"""Run configured destinations: open each, sync the audiences it takes from a sandbox, close it."""

from __future__ import annotations

from collections.abc import Callable

from accord.activation.config import DestinationConfig
from accord.activation.deliveries import release_dead_letters
from accord.activation.destination import Destination
from accord.activation.members import (
    LiveMembers,
    audience_kind,
    known_audiences,
    refuse_unknown_fields,
)
from accord.activation.reach import forget_others, read_reach
from accord.activation.sync import (
    DeliveryReport,
    DeliverySync,
    SyncPolicy,
    destination_turn,
)
from accord.connectors.registry import connector
from accord.governance import audit
from accord.governance.consent import needed
from accord.governance.enforce import destination_violations
from accord.lake.store import Lake
from accord.lake.turns import writing
from accord.workspace import Workspace


def open_destination(ws: Workspace, config: DestinationConfig, sandbox: str) -> Destination:
    return connector(config.type).open_destination(config, ws.root, ws.config.name, sandbox)  # type: ignore[no-any-return]


class UnknownDestination(LookupError):
    """accord.yaml configures no destination of that name."""


def reading(ws: Workspace, sandbox: str | None) -> list[DestinationConfig]:
    """The destinations that read `sandbox` (all when none is named): another sandbox's are none of its business."""
    return [d for d in ws.config.destinations if sandbox is None or sandbox in d.sandboxes]


def configured(ws: Workspace, name: str | None = None, sandbox: str | None = None) -> list[DestinationConfig]:
    """The destinations of that name (or all), only those that read `sandbox` when one is given."""
    offered = reading(ws, sandbox)
    chosen = [d for d in offered if name is None or d.name == name]
    if not chosen:
        known = ", ".join(d.name for d in offered) or "none"
        wanted = f"destination {name!r}" if name else "destinations"
        where = f" for sandbox {sandbox!r}" if sandbox else ""
        raise UnknownDestination(f"no {wanted} configured in accord.yaml{where} (configured: {known})")
    return chosen


def deliver(ws: Workspace, lake: Lake, config: DestinationConfig, audiences: list[str] | None = None,
            trigger: str = "manual", sleep: Callable[[float], None] | None = None,
            destination: Destination | None = None,
            live: LiveMembers | None = None,
            only: dict[str, set[str]] | None = None) -> DeliveryReport:
    """One run of a destination over its audiences (or those of them named), from the lake's sandbox; `live`
    gives the streaming audiences as decided live, ahead of the lake's record (`accord serve`); `only` limits the
    run to some profiles per audience. An audience a policy denies this destination is not sent: the run records
    why."""
    sandbox = lake.sandbox or ws.config.default_sandbox
    if sandbox not in config.sandboxes:
        raise UnknownDestination(f"destination {config.name!r} does not read sandbox {sandbox!r} "
                                 f"(it reads {', '.join(config.sandboxes)})")
    wanted = [a for a in config.audiences if audiences is None or a in audiences]
    audit.record_configuration(lake, ws.config.model_dump(mode="json"))  # the settings this run sends by
    refuse_unknown_fields(lake, config.name, config.fields)
    known = known_audiences(lake, wanted)
    config.refuse_kinds({name: audience_kind(lake, name) for name in known})
    policy = SyncPolicy(config.max_attempts, config.backoff_seconds, config.max_wait_seconds)
    if sleep is not None:
        policy.sleep = sleep
    # One audience the sandbox does not hold (a name mistyped in accord.yaml, a file removed) is not sent; the
    # destination's other audiences are.
    blocked = {name: f"sandbox {sandbox!r} has evaluated no audience of that name (no file in "
                     f"{ws.audiences_dir(sandbox).name}/ defines it, or `accord audiences run` has not run since)"
               for name in wanted if name not in known}
    for violation in destination_violations(ws, config, sandbox, known):
        said = f"blocked by {violation.explain()}"
        blocked[violation.audience] = "; ".join(filter(None, [blocked.get(violation.audience), said]))
    allowed = [a for a in wanted if a not in blocked]
    opened = destination or open_destination(ws, config, sandbox)
    try:
        sync = DeliverySync(lake, config.name, opened, config.fields, policy, live, needed(config.performs))
        report = sync.run(allowed, trigger, only, blocked)
        if opened.capabilities.reports_reach:
            forget_others(lake, config.name, config.audiences)
        return report
    finally:
        if destination is None:
            opened.close()


def refresh_reach(ws: Workspace, lake: Lake, config: DestinationConfig) -> dict[str, str] | None:
    """Ask the destination's platform now what it holds of each of its audiences (None: its type says nothing of
    reach); audience → error, for those it could not answer."""
    opened = open_destination(ws, config, lake.sandbox or ws.config.default_sandbox)
    try:
        if not opened.capabilities.reports_reach:
            return None
        forget_others(lake, config.name, config.audiences)
        return read_reach(lake, config.name, opened, config.audiences)
    finally:
        opened.close()


def retry(ws: Workspace, lake: Lake, config: DestinationConfig) -> tuple[int, DeliveryReport]:
    """Put the destination's dead letters back into play and deliver now; returns how many were released."""
    # In the destination's turn: a run under way finishes first, and what it dead-letters is released too.
    with writing(lake, [destination_turn(config.name)]):
        released = release_dead_letters(lake, config.name)
        return released, deliver(ws, lake, config, trigger="retry")
