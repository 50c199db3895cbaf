-- The compute fleet's status (`airlock start|stop`, pcluster 3's
-- ComputeFleetStatus), and the configuration an update replaced, kept
-- while the update is applied so that a failure can restore it.
ALTER TABLE clusters ADD COLUMN compute_fleet_status TEXT NOT NULL DEFAULT 'RUNNING';
ALTER TABLE clusters ADD COLUMN compute_fleet_updated_at TEXT NOT NULL DEFAULT '';
ALTER TABLE clusters ADD COLUMN previous_config TEXT;
