-- The camera_offline countdown, durable: a camera that dropped off without a clean close
-- raises camera_offline at due_at unless it came back meanwhile (swept by the process,
-- and still due after a restart).
CREATE TABLE IF NOT EXISTS camera_offline_checks (
	device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
	dropped_at TEXT NOT NULL,
	due_at TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS camera_offline_checks_due_idx ON camera_offline_checks (due_at);
