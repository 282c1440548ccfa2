-- v0016: aud_account_events becomes a view over the people's events and links. The table an earlier Accord kept
-- goes, and with it aud_state, so the next audience run builds the aud_* tables whole (and the view with them).
DROP TABLE IF EXISTS aud_account_events;
DROP TABLE IF EXISTS aud_state;
