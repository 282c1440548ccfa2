-- v0021: what each destination was last sent of a member (a digest of its fields), so that a member whose e-mail or
-- lead changes is sent again; and how many members a delivery run updated.
ALTER TABLE destination_members ADD COLUMN IF NOT EXISTS sent VARCHAR;
ALTER TABLE delivery_runs ADD COLUMN IF NOT EXISTS updated BIGINT DEFAULT 0;
