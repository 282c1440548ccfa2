-- v0015: alerts, each kept from when its condition first held until it stopped holding, with when it was sent.
CREATE TABLE alert_history (
    alert_key VARCHAR NOT NULL PRIMARY KEY,
    rule VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    send_error VARCHAR
);
