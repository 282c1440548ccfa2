-- v0017: the identity run that first restitched around each split (`taken_by_run`; NULL: none yet). An incremental
-- run takes the splits no run has taken, not those made after the last run finished: a split made while a run was
-- under way is missing from what that run read, and no incremental run would ever take it.
ALTER TABLE identity_unlinks ADD COLUMN taken_by_run BIGINT;
UPDATE identity_unlinks SET taken_by_run = 0
WHERE created_at <= (SELECT max(r.finished_at) FROM identity_runs r WHERE r.kind = identity_unlinks.kind);
