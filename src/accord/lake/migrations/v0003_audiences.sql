-- v0003: audience definitions as evaluated, membership per (audience, profile) and its history.

CREATE SEQUENCE audience_run_seq START 1;

CREATE TABLE audience_runs (
    run_id BIGINT NOT NULL,
    as_of TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    seconds DOUBLE,
    audiences INTEGER
);

CREATE TABLE audiences (
    name VARCHAR NOT NULL,
    audience_of VARCHAR NOT NULL,
    definition VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    method_reason VARCHAR NOT NULL,
    last_run_id BIGINT,
    last_evaluated_at TIMESTAMPTZ,
    size BIGINT
);

CREATE TABLE audience_membership (
    audience VARCHAR NOT NULL,
    profile_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    entered_at TIMESTAMPTZ NOT NULL,
    exited_at TIMESTAMPTZ,
    last_evaluated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE audience_membership_history (
    run_id BIGINT NOT NULL,
    audience VARCHAR NOT NULL,
    profile_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);
