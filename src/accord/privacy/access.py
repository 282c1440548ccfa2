"""`accord privacy access`: everything held on a person, as one JSON document: their identities, every row of
every table that mentions them (source records in every version, merges, profile, memberships and history,
events, deliveries and receipts, quarantine) and their messages in the collector log."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from accord.governance import audit
from accord.lake.store import Lake
from accord.privacy import collector_log, lake_rows, requests
from accord.privacy.subject import find_subject
from accord.sources.collector_log import log_folder
from accord.workspace import Workspace


def access(ws: Workspace, lake: Lake, ref: str, actor: str) -> dict[str, Any]:
    subject = find_subject(lake, ref)
    request_id = requests.start(lake, "access", ref, actor)
    audit.record(lake, actor, "privacy access", request_id)
    read = ((search.table, lake_rows.rows(lake, search)) for search in lake_rows.searches(lake, subject))
    held = {table: rows for table, rows in read if rows}
    logged = collector_log.messages_of(log_folder(ws, lake.sandbox), subject)
    requests.finish(lake, request_id, {"tables": {t: len(r) for t, r in held.items()}, "collector_messages": len(logged)})
    return {"request_id": request_id, "generated_at": datetime.now(timezone.utc).isoformat(),
            "person_ids": list(subject.profile_ids),
            "identities": [{"namespace": n, "value": v} for n, v in subject.identities],
            "held": held, "collector_log": logged}
