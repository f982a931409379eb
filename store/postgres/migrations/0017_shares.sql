-- Sharing (issue 16): one row per camera shared with one person. The invitation's
-- single-use token is stored only as a hash, on each share of the invitation, and
-- cleared once accepted or ended. user_id is the invitee's account once accepted.
CREATE TABLE IF NOT EXISTS shares (
	id uuid PRIMARY KEY,
	invitation_id uuid NOT NULL,
	owner_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	camera_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	invitee_email varchar NOT NULL,
	user_id uuid REFERENCES users (id) ON DELETE CASCADE,
	role varchar NOT NULL,
	status varchar NOT NULL,
	invited_by_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash varchar,
	expires_at timestamptz NOT NULL,
	accepted_at timestamptz,
	ended_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS shares_open_email_key ON shares (camera_device_id, lower(invitee_email))
	WHERE status IN ('pending', 'active');
CREATE UNIQUE INDEX IF NOT EXISTS shares_active_user_key ON shares (camera_device_id, user_id) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS shares_token_idx ON shares (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS shares_owner_idx ON shares (owner_user_id, id);
CREATE INDEX IF NOT EXISTS shares_user_idx ON shares (user_id, id);
CREATE INDEX IF NOT EXISTS shares_camera_idx ON shares (camera_device_id, id);
