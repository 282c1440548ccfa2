-- v0010: the profiles a profile build changed (read by the next audience evaluation, which re-decides only
-- them), and how each audience run went (full or incremental, and over how many profiles).
CREATE SEQUENCE profile_change_seq START 1;
CREATE TABLE profile_changes (
    seq BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    profile_id VARCHAR  -- NULL: every profile of this kind was rebuilt
);
ALTER TABLE audience_runs ADD COLUMN mode VARCHAR;
ALTER TABLE audience_runs ADD COLUMN people BIGINT;
ALTER TABLE audience_runs ADD COLUMN accounts BIGINT;
-- The aud_* tables now say what they reflect in aud_state (audiences/prepared.py), built on first use.
DROP TABLE IF EXISTS aud_prepared;
