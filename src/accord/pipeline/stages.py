"""The stages every entry point runs, in this order: identity → profiles → retention → audiences → activation, then
publish (on an engine that keeps a copy of the lake).

(`accord serve` adds two of its own around them, in `pipeline/runtime.py`: the collector log first, streaming
decisions after the profiles.)
"""

from __future__ import annotations

import json
from datetime import timedelta

from accord.activation.run import deliver, reading
from accord.audiences.evaluate import evaluate
from accord.governance.retention import LOG_SWEEP_EVERY, expire_events, sweep_log
from accord.identity.run import stitch
from accord.lake.store import now
from accord.pipeline.stage import Context, Stage
from accord.profiles.build import build_profiles
from accord.sources.collector import loaded_offset
from accord.sources.collector_log import log_folder, remove_loaded, segments
from accord.sources.state import SourceState

RECORDS = ("person", "account", "account_person", "batches")


def _identity(ctx: Context) -> tuple[int, int]:
    ctx.identity = stitch(ctx.lake, ctx.identity_config, ctx.full, ctx.batch_engine())
    people, accounts = ctx.identity.people, ctx.identity.accounts
    return people.records + accounts.records, people.profiles + accounts.profiles


def _profiles(ctx: Context) -> tuple[int, int]:
    assert ctx.identity is not None, "the profiles stage follows the identity stage"
    touched = {"person": ctx.identity.people.touched, "account": ctx.identity.accounts.touched}
    ctx.identity.profiles = build_profiles(ctx.lake, ctx.identity_config, touched, ctx.batch_engine())
    changed = sum(len(t) if t is not None else ctx.identity.profiles[k] for k, t in
                  (("people", touched["person"]), ("accounts", touched["account"])))
    return changed, ctx.identity.profiles["people"] + ctx.identity.profiles["accounts"]


def _retention(ctx: Context) -> tuple[int, int]:
    config, at = ctx.workspace.config.governance.retention, now()
    ctx.retention = expire_events(ctx.lake, config, at)
    log = log_folder(ctx.workspace, ctx.lake.sandbox)
    if config.collector_log_days is not None:
        ctx.retention.log_bytes = remove_loaded(log, loaded_offset(ctx.lake),
                                                at - timedelta(days=config.collector_log_days))
    swept = SourceState(ctx.lake, "collector")
    if config.limited and swept.due("retention", "log_swept_at", LOG_SWEEP_EVERY):
        known = json.loads(swept.get("retention", "log_segments") or "null")
        sweep = sweep_log(log, config, at, ctx.workspace.config.collector.track_events, known)
        ctx.retention.log_messages = sweep.messages
        swept.put("retention", "log_segments", json.dumps(sweep.state))
        swept.put("retention", "log_swept_at", at.isoformat())
    return ctx.retention.events + ctx.retention.log_messages, ctx.retention.people


def _retention_due(ctx: Context) -> bool:
    """Events are kept for a limited time, or the collector log has segments besides the one written to."""
    if ctx.workspace is None:
        return False
    config = ctx.workspace.config.governance.retention
    return config.limited or (config.collector_log_days is not None
                              and len(segments(log_folder(ctx.workspace, ctx.lake.sandbox))) > 1)


def _audiences(ctx: Context) -> tuple[int, int]:
    retention = ctx.workspace.config.audiences.retention_days if ctx.workspace else 30
    ctx.evaluation = evaluate(ctx.lake, ctx.audiences, ctx.as_of, ctx.batch_engine(), retention_days=retention,
                              full=ctx.full)
    return len(ctx.audiences), sum(r.size for r in ctx.evaluation.results)


def _activation(ctx: Context) -> tuple[int, int]:
    configs = [c for c in reading(ctx.workspace, ctx.lake.sandbox) if not c.paused] if ctx.workspace else []
    ctx.deliveries = [deliver(ctx.workspace, ctx.lake, config) for config in configs]
    changed = ("activated", "removed", "updated")
    return len(configs), sum(r.total(what) for r in ctx.deliveries for what in changed)


IDENTITY = Stage("identity", RECORDS, ("identity_nodes", "identity_merges", "identity_runs", "person_account"),
                 _identity)
PROFILES = Stage("profiles", ("identity_nodes", "person", "account"),
                 ("person_profile", "account_profile", "profile_lineage"), _profiles)
RETENTION = Stage("retention", ("event",), ("event", "aud_person_events", "aud_pending", "collector log"), _retention,
                  when=_retention_due)
AUDIENCES = Stage("audiences", ("person_profile", "account_profile", "person_account", "opportunity", "event"),
                  ("audience_membership", "audience_membership_history", "audience_runs", "audiences"), _audiences)
ACTIVATION = Stage("activation", ("audience_membership", "destination_members"),
                   ("destination_members", "delivery_runs", "delivery_receipts", "delivery_dead_letters",
                    "destination_reach"), _activation)


PUBLISHED = ("batches", "quarantine", "identity_nodes", "identity_merges", "identity_rejections", "identity_runs",
             "identity_unlinks", "person_account", "person_account_stated", "person_profile", "account_profile",
             "profile_lineage", "audiences", "audience_runs", "audience_membership", "audience_membership_history",
             "destination_members", "delivery_runs", "delivery_receipts", "delivery_dead_letters",
             "destination_reach", "stage_runs")
"""What other tools see beside the record tables: what identity, profiles, audiences and deliveries keep. API keys,
the audit log, privacy requests and serving state stay in the store."""


def _publish(ctx: Context) -> tuple[int, int]:
    return ctx.batch_engine().publish(PUBLISHED)


PUBLISH = Stage("publish", ("person", "account", "event", *PUBLISHED), (), _publish,
                when=lambda ctx: ctx.batch_engine().capabilities.copies_lake)
