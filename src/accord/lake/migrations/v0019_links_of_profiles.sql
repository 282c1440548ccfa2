-- v0019: aud_person_account holds only the links of people with a profile, which an account's conditions on its
-- people now rely on. Dropping aud_state makes the next audience run build the aud_* tables whole.
DROP TABLE IF EXISTS aud_state;
