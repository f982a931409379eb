-- The camera_offline countdown, durable: a camera that dropped off without a clean close
-- raises camera_offline at due_at unless it came back meanwhile. Any replica sweeps the
-- due rows, claiming each by moving its due_at forward (a lease), so a replica that
-- restarts or dies loses no alert.
CREATE TABLE IF NOT EXISTS camera_offline_checks (
	device_id uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
	dropped_at timestamptz NOT NULL,
	due_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS camera_offline_checks_due_idx ON camera_offline_checks (due_at);
