-- v0007: which process runs a delivery run, so a run whose process died (kill -9) can be told from a live one.
ALTER TABLE delivery_runs ADD COLUMN runner VARCHAR;
