-- Sharing (issue 16): one row per camera shared with one person. The invitation's
-- single-use token is stored only as a hash, on each share of the invitation, and
-- cleared once accepted or ended. user_id is the invitee's account once accepted.
CREATE TABLE IF NOT EXISTS shares (
	id TEXT PRIMARY KEY,
	invitation_id TEXT NOT NULL,
	owner_user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	camera_device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	invitee_email TEXT NOT NULL,
	user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
	role TEXT NOT NULL,
	status TEXT NOT NULL,
	invited_by_user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash TEXT,
	expires_at TEXT NOT NULL,
	accepted_at TEXT,
	ended_at TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS shares_open_email_key ON shares (camera_device_id, lower(invitee_email))
	WHERE status IN ('pending', 'active');
CREATE UNIQUE INDEX IF NOT EXISTS shares_active_user_key ON shares (camera_device_id, user_id) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS shares_token_idx ON shares (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS shares_owner_idx ON shares (owner_user_id, id);
CREATE INDEX IF NOT EXISTS shares_user_idx ON shares (user_id, id);
CREATE INDEX IF NOT EXISTS shares_camera_idx ON shares (camera_device_id, id);
