-- v0018: a person record the source merged into another (Marketo's Merge Leads) names the record it joined. It stays
-- a record of that person, so the events and memberships that still name it count for the person it became.
-- IF NOT EXISTS: a store rolled back to an earlier version by hand keeps the column and may run this again.

ALTER TABLE person ADD COLUMN IF NOT EXISTS merged_into_key VARCHAR;
