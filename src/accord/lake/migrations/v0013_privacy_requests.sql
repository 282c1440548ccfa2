-- v0013: privacy access and delete requests: who asked, about whom (as a SHA-256 of the identity, never the
-- identity itself), when, and the receipt of what was found or erased.
CREATE TABLE privacy_requests (
    request_id VARCHAR NOT NULL PRIMARY KEY,
    kind VARCHAR NOT NULL,
    identity_sha256 VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    actor VARCHAR NOT NULL,
    receipt VARCHAR,
    error VARCHAR
);
