-- Arming, schedules, quiet hours and per-camera alert settings (issue 16). See the
-- PostgreSQL migration of the same number for the meaning of each column.
CREATE TABLE IF NOT EXISTS user_settings (
	user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	time_zone TEXT NOT NULL DEFAULT 'UTC',
	quiet_start INTEGER,
	quiet_end INTEGER,
	arming_mode TEXT NOT NULL DEFAULT 'away',
	arming_source TEXT NOT NULL DEFAULT 'manual',
	arming_changed_by_user_id TEXT,
	arming_changed_by_device_id TEXT,
	arming_changed_at TEXT,
	arming_schedule TEXT NOT NULL DEFAULT '[]',
	arming_next_at TEXT,
	arming_next_mode TEXT,
	arming_due_at TEXT,
	updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS user_settings_arming_due_idx ON user_settings (arming_due_at)
	WHERE arming_due_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS camera_settings (
	device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
	arm_modes TEXT NOT NULL DEFAULT 'away',
	event_cooldown_ms INTEGER,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS camera_mutes (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	muted_until TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id)
) STRICT;

ALTER TABLE events ADD COLUMN armed INTEGER NOT NULL DEFAULT 1;
