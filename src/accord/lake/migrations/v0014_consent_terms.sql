-- v0014: consent per purpose and channel on person records (phone, ads, sharing, personalisation, collection).

ALTER TABLE person ADD COLUMN do_not_call BOOLEAN;
ALTER TABLE person ADD COLUMN do_not_call_reason VARCHAR;
ALTER TABLE person ADD COLUMN email_invalid BOOLEAN;
ALTER TABLE person ADD COLUMN ads_consent VARCHAR;
ALTER TABLE person ADD COLUMN share_consent VARCHAR;
ALTER TABLE person ADD COLUMN personalize_consent VARCHAR;
ALTER TABLE person ADD COLUMN collect_consent VARCHAR;
ALTER TABLE person ADD COLUMN consent_reason VARCHAR;
