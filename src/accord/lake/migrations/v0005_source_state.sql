-- v0005: connector checkpoints (paging positions, backfill progress, bulk jobs in flight), per source and stream.

CREATE TABLE source_state (
    source VARCHAR NOT NULL,
    stream VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, stream, key)
);
