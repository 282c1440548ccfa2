-- v0011: how far each reader of `profile_changes` besides the audiences has read (the served profiles' copy,
-- profiles/serving.py): a change is dropped only once every reader has it.
CREATE TABLE change_readers (
    reader VARCHAR NOT NULL PRIMARY KEY,
    seq BIGINT NOT NULL
);
