-- v0009: one row per stage of a pipeline run (accord run, a serve cycle, the demo): when, how much, what failed.
CREATE SEQUENCE pipeline_run_seq START 1;
CREATE TABLE stage_runs (
    run_id BIGINT NOT NULL,
    stage VARCHAR NOT NULL,
    trigger VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    rows_in BIGINT,
    rows_out BIGINT,
    error VARCHAR
);
