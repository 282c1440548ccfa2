"""Privacy requests as they are kept: a request id, the kind, a hash of the identity asked about (never the
identity), the status and the receipt. The one owner of `privacy_requests`."""

from __future__ import annotations

import json
import uuid
from typing import Any

from accord.lake.store import Lake, now
from accord.privacy.subject import identity_digest


def start(lake: Lake, kind: str, ref: str, actor: str) -> str:
    request_id = f"pr_{uuid.uuid4().hex[:16]}"
    lake.execute("INSERT INTO privacy_requests VALUES (?, ?, ?, 'running', ?, NULL, ?, NULL, NULL)",
                 [request_id, kind, identity_digest(ref), now(), actor])
    return request_id


def finish(lake: Lake, request_id: str, receipt: dict[str, Any]) -> None:
    lake.execute("UPDATE privacy_requests SET status = 'completed', finished_at = ?, receipt = ? WHERE request_id = ?",
                 [now(), json.dumps(receipt, sort_keys=True, default=str), request_id])


def fail(lake: Lake, request_id: str, error: str) -> None:
    lake.execute("UPDATE privacy_requests SET status = 'failed', finished_at = ?, error = ? WHERE request_id = ?",
                 [now(), error, request_id])


def listed(lake: Lake, limit: int = 50) -> list[dict[str, Any]]:
    rows = lake.query(f"SELECT * FROM privacy_requests ORDER BY requested_at DESC LIMIT {int(limit)}")
    for row in rows:
        row["receipt"] = json.loads(row["receipt"]) if row["receipt"] else None
    return rows
