-- v0004: collector identities on people, API and write keys (stored as hashes), the collector log's cursor.

ALTER TABLE person ADD COLUMN user_id VARCHAR;
ALTER TABLE person ADD COLUMN anonymous_id VARCHAR;

CREATE TABLE api_keys (
    key_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    key_hash VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    note VARCHAR
);

CREATE TABLE collector_offsets (
    log_name VARCHAR NOT NULL,
    offset_bytes BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
