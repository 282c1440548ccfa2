"""`accord privacy delete`: the person removed from every destination that received them, then erased from the
export files Accord wrote, the collector log, the served copy of people and every table of the store. If a
destination cannot take the removal, nothing is erased and the request fails: it can be made again, and no
destination is left holding someone Accord no longer knows."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from typing import Any

from accord.activation.members import acknowledged
from accord.activation.run import deliver, open_destination, reading
from accord.activation.sync import destination_turn
from accord.audiences.changes import Change
from accord.audiences.memberships import audiences_of, last_recording, record_changes
from accord.engines.registry import workspace_engine
from accord.governance import audit
from accord.lake.store import Lake
from accord.lake.turns import writing, writing_every_table
from accord.privacy import collector_log, lake_rows, requests
from accord.privacy.subject import Subject, find_subject
from accord.profiles.serving import TURN as SERVED_COPY
from accord.profiles.serving import forget
from accord.sources.collector_log import log_folder
from accord.workspace import Workspace


class ErasureBlocked(RuntimeError):
    """A destination could not take the person's removal; nothing was erased."""


def delete(ws: Workspace, lake: Lake, ref: str, actor: str) -> tuple[str, dict[str, Any]]:
    """Erase the person holding identity `ref`; the request id and its receipt (counts, no identities)."""
    # A stage running meanwhile (serve's worker stitching the person's new record), a delivery (a file destination
    # writing its snapshot) or the served copy's sync would write back what is erased.
    destinations = [destination_turn(c.name) for c in reading(ws, lake.sandbox or ws.config.default_sandbox)]
    with writing_every_table(lake), writing(lake, destinations), writing(lake, [SERVED_COPY]):
        return _delete(ws, lake, ref, actor)


def _delete(ws: Workspace, lake: Lake, ref: str, actor: str) -> tuple[str, dict[str, Any]]:
    subject = find_subject(lake, ref)
    request_id = requests.start(lake, "delete", ref, actor)
    audit.record(lake, actor, "privacy delete", request_id)
    try:
        engine = workspace_engine(ws, lake)  # first: an engine that cannot start fails the request before any erasure
        receipt: dict[str, Any] = {"destinations": _remove_everywhere(ws, lake, subject)}
        receipt["export_rows"] = _erase_exports(ws, lake.sandbox or ws.config.default_sandbox, subject)
        receipt["collector_messages"] = collector_log.erase(log_folder(ws, lake.sandbox), subject)
        served = ws.lake_path(lake.sandbox).parent / "profiles.sqlite"
        receipt["served_copy_rows"] = sum(forget(served, p) for p in subject.profile_ids)
        receipt["store_rows"] = lake_rows.erase(lake, lake_rows.searches(lake, subject))
        receipt["derived_files"] = _erase_derived(lake)
        receipt["engine_copies"] = engine.erase_copies()
    except Exception as err:
        requests.fail(lake, request_id, f"{type(err).__name__}: {err}")
        raise
    requests.finish(lake, request_id, receipt)
    return request_id, receipt


def _erase_derived(lake: Lake) -> int:
    """Remove the copies of the store's tables made for other engines (they are made again from the store)."""
    files = [p for p in lake.derived_folder.rglob("*") if p.is_file()] if lake.derived_folder.exists() else []
    shutil.rmtree(lake.derived_folder, ignore_errors=True)
    return len(files)


def _remove_everywhere(ws: Workspace, lake: Lake, subject: Subject) -> dict[str, dict[str, Any]]:
    """Leave every audience, and run each destination holding the person for them alone."""
    people, at = set(subject.profile_ids), datetime.now(timezone.utc)
    record_changes(lake, last_recording(lake), [Change(a, p, "exited", at) for p in sorted(people)
                                                 for a in audiences_of(lake, p)])
    out = {}
    for config in reading(ws, lake.sandbox or ws.config.default_sandbox):
        holding = [a for a in config.audiences if people & set(acknowledged(lake, config.name, a))]
        if not holding:
            continue
        report = deliver(ws, lake, config, holding, trigger="privacy", only={a: people for a in holding})
        left = report.total("failed") + report.total("retrying")
        if left or report.unreachable:
            raise ErasureBlocked(f"destination {config.name!r} could not take the removal (run {report.run_id}: "
                                 f"{report.unreachable or report.problem or f'{left} not removed'}); nothing was "
                                 "erased: make the request again when it can be reached")
        out[config.name] = {"run_id": report.run_id, "removed": report.total("removed")}
    return out


def _erase_exports(ws: Workspace, sandbox: str, subject: Subject) -> dict[str, int]:
    """Rows taken out of the files each file-writing destination left."""
    out = {}
    for config in (c for c in reading(ws, sandbox) if c.keeps_files):  # others need not even be opened
        destination = open_destination(ws, config, sandbox)
        try:
            out[config.name] = destination.erase(set(subject.profile_ids), subject.everything)  # type: ignore[attr-defined]
        finally:
            destination.close()
    return out
