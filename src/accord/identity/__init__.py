"""Identity: the identity graph, stitching with guardrails, stable ids, merges, splits and account matching."""
