-- The reaper's clocks, so a restart resumes them instead of resetting them:
-- when bytes last moved (idle timeout) and when the session's streams were
-- last seen relaying (resume window). Written in batches every few seconds.
-- status_reason: why the session ended, when the server ended it.
ALTER TABLE sessions ADD COLUMN last_activity_at TEXT;
ALTER TABLE sessions ADD COLUMN streams_seen_at TEXT;
ALTER TABLE sessions ADD COLUMN status_reason TEXT;
