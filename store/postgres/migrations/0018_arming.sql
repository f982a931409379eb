-- Arming, schedules, quiet hours and per-camera alert settings (issue 16).
--
-- user_settings: one row per user, created on first write. The account's time zone
-- (IANA name) is the one its arming schedule and quiet hours are read in. The arming
-- columns are the household's (the owner's account): the mode, who set it and how,
-- and the weekly schedule (JSON rules). arming_next_at/arming_next_mode are the next
-- scheduled switch shown to clients; arming_due_at is when a replica should apply it:
-- a replica claims a due row by moving arming_due_at forward (a lease), so a replica
-- that dies mid-switch leaves it to another. Quiet hours are minutes after local
-- midnight; an end before the start spans midnight.
CREATE TABLE IF NOT EXISTS user_settings (
	user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	time_zone text NOT NULL DEFAULT 'UTC',
	quiet_start integer,
	quiet_end integer,
	arming_mode text NOT NULL DEFAULT 'away',
	arming_source text NOT NULL DEFAULT 'manual',
	arming_changed_by_user_id uuid,
	arming_changed_by_device_id uuid,
	arming_changed_at timestamptz,
	arming_schedule text NOT NULL DEFAULT '[]',
	arming_next_at timestamptz,
	arming_next_mode text,
	arming_due_at timestamptz,
	updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS user_settings_arming_due_idx ON user_settings (arming_due_at)
	WHERE arming_due_at IS NOT NULL;

-- Per camera: the arming modes it alerts in (comma-separated; default away only) and
-- its event cooldown (NULL: the hub's default).
CREATE TABLE IF NOT EXISTS camera_settings (
	device_id uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
	arm_modes text NOT NULL DEFAULT 'away',
	event_cooldown_ms bigint,
	updated_at timestamptz NOT NULL
);

-- A user's mute of one camera: no notification and no push from it until muted_until.
CREATE TABLE IF NOT EXISTS camera_mutes (
	user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	muted_until timestamptz NOT NULL,
	PRIMARY KEY (user_id, device_id)
);

-- Whether the camera was armed when the event started: a disarmed camera's motion is
-- recorded (armed false) but alerts nobody.
ALTER TABLE events ADD COLUMN IF NOT EXISTS armed boolean NOT NULL DEFAULT true;
