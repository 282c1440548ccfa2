"""The store's logs: tables that a run (or a batch) only adds rows to, an erasure aside, and the column naming the
run. A copy of the store can keep them run by run instead of whole (the Spark lake does)."""

from __future__ import annotations

LOGS = {"audience_membership_history": "run_id", "identity_merges": "run_id", "identity_rejections": "run_id",
        "delivery_receipts": "run_id", "stage_runs": "run_id", "quarantine": "batch_id"}
