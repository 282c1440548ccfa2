-- v0012: what each API key may do (keys made before roles keep every right), and the append-only audit log of
-- who changed what: audiences, configuration (destinations, policies), keys, manual runs.
ALTER TABLE api_keys ADD COLUMN roles VARCHAR[] DEFAULT ['admin'];

CREATE TABLE audit_log (
    entry_id BIGINT NOT NULL PRIMARY KEY,
    recorded_at TIMESTAMPTZ NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    before_value VARCHAR,
    after_value VARCHAR,
    detail VARCHAR
);
CREATE SEQUENCE audit_seq START 1;
