-- Why a session's recording stopped early: Truncated (size cap or free-space
-- floor) or Failed (a write error), with the reason. NULL: not stopped.
ALTER TABLE sessions ADD COLUMN recording_status TEXT;
ALTER TABLE sessions ADD COLUMN recording_status_reason TEXT;
