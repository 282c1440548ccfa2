-- v0022: what each ad platform last said of the list an audience is sent to (its state, how many it matched, the
-- size it can target), read after the runs that changed it; one row per destination and audience.
CREATE TABLE IF NOT EXISTS destination_reach (
    destination VARCHAR NOT NULL,
    audience VARCHAR NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL,
    state VARCHAR,
    matched BIGINT,
    uploaded BIGINT,
    size_low BIGINT,
    size_high BIGINT,
    match_rate DOUBLE,
    usable BOOLEAN,
    note VARCHAR,
    error VARCHAR,
    PRIMARY KEY (destination, audience)
);
