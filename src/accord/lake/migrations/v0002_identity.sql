-- v0002: identity state: which profile every identity belongs to, the merge log, splits and rejected links.

CREATE SEQUENCE person_id_seq START 1;
CREATE SEQUENCE account_id_seq START 1;
CREATE SEQUENCE identity_run_seq START 1;

CREATE TABLE identity_runs (
    run_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,
    last_batch_id BIGINT NOT NULL,
    records BIGINT,
    identities BIGINT,
    links BIGINT,
    profiles BIGINT,
    merges BIGINT,
    rejections BIGINT,
    seconds DOUBLE,
    finished_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE identity_nodes (
    kind VARCHAR NOT NULL,
    namespace VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    profile_id VARCHAR NOT NULL
);

CREATE TABLE identity_merges (
    run_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    merged_at TIMESTAMPTZ NOT NULL,
    surviving_id VARCHAR NOT NULL,
    merged_id VARCHAR NOT NULL,
    evidence VARCHAR
);

CREATE TABLE identity_rejections (
    run_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL,
    namespace VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    rule VARCHAR NOT NULL
);

CREATE TABLE identity_unlinks (
    kind VARCHAR NOT NULL,
    namespace VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    profile_id VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
