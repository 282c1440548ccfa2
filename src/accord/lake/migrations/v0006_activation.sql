-- v0006: marketing consent on people; activation state: what each destination acknowledged, runs, receipts,
-- changes in flight (so a killed run can tell what it may have sent) and the dead-letter list.

ALTER TABLE person ADD COLUMN marketing_consent VARCHAR;

CREATE TABLE destination_members (
    destination VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    profile_id VARCHAR NOT NULL,
    destination_key VARCHAR,
    acknowledged_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (destination, audience, profile_id)
);

CREATE SEQUENCE delivery_run_seq START 1;

CREATE TABLE delivery_runs (
    run_id BIGINT PRIMARY KEY,
    destination VARCHAR NOT NULL,
    trigger VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    activated BIGINT NOT NULL DEFAULT 0,
    removed BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    excluded BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    calls BIGINT NOT NULL DEFAULT 0,
    error VARCHAR
);

CREATE TABLE delivery_receipts (
    run_id BIGINT NOT NULL,
    destination VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    profile_id VARCHAR NOT NULL,
    change VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    reason VARCHAR,
    attempts INTEGER NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE delivery_in_flight (
    destination VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    profile_id VARCHAR NOT NULL,
    change VARCHAR NOT NULL,
    run_id BIGINT NOT NULL,
    since TIMESTAMPTZ NOT NULL
);

CREATE TABLE delivery_dead_letters (
    destination VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    profile_id VARCHAR NOT NULL,
    change VARCHAR NOT NULL,
    error VARCHAR NOT NULL,
    attempts INTEGER NOT NULL,
    run_id BIGINT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (destination, audience, profile_id)
);
