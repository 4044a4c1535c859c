-- passbroker schema v2 (PostgreSQL): the "attempt started" mark of a task.
-- Set just before a target call and cleared when its outcome is recorded; a task that still
-- has it had an attempt whose outcome is unknown, so the next attempt asks the target first.
ALTER TABLE tasks ADD COLUMN attempt_started BIGINT;
