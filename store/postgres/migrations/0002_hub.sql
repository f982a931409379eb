-- What the hub adds to the seed schema. Written to apply both to a new database (made
-- by 0001) and to one the original backend made (Drizzle / Better Auth).

-- The original backend's timestamp columns are "timestamp" (without time zone) holding
-- UTC wall-clock times (it wrote Date.toISOString()). Make them timestamptz, reading
-- the old values as UTC, so every instant is unambiguous whatever a session's TimeZone.
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN
		SELECT c.table_name,
		       string_agg(format('ALTER COLUMN %I TYPE timestamptz USING %I AT TIME ZONE ''UTC''',
		                         c.column_name, c.column_name), ', ') AS alters
		FROM information_schema.columns c
		WHERE c.table_schema = current_schema()
		  AND c.data_type = 'timestamp without time zone'
		  AND c.table_name IN ('users', 'devices', 'device_links', 'commands', 'stream_sessions',
		                       'recordings', 'events', 'notifications', 'notification_deliveries',
		                       'audit_logs', 'account', 'session', 'verification')
		GROUP BY c.table_name
	LOOP
		EXECUTE format('ALTER TABLE %I %s', t.table_name, t.alters);
	END LOOP;
END
$$;

-- devices: the hash of the device token, and soft deletion.
ALTER TABLE devices
	ADD COLUMN IF NOT EXISTS token_hash text,
	ADD COLUMN IF NOT EXISTS deleted_at timestamptz;

-- commands: the sender's envelope id (dedupe) and the expiry. Commands inherited from
-- the original backend expire at once.
ALTER TABLE commands
	ADD COLUMN IF NOT EXISTS request_id text,
	ADD COLUMN IF NOT EXISTS expires_at timestamptz;
UPDATE commands SET expires_at = COALESCE(created_at, now()) WHERE expires_at IS NULL;
ALTER TABLE commands ALTER COLUMN expires_at SET NOT NULL;

-- notification_deliveries: when a job stops being worth sending, and the lease of the
-- worker that claimed it.
ALTER TABLE notification_deliveries
	ADD COLUMN IF NOT EXISTS expires_at timestamptz,
	ADD COLUMN IF NOT EXISTS claimed_by text,
	ADD COLUMN IF NOT EXISTS claimed_until timestamptz;

-- At most one active link per camera and client: inherited duplicates are revoked,
-- keeping the newest.
UPDATE device_links SET status = 'revoked', updated_at = now()
WHERE status = 'active' AND id NOT IN (
	SELECT DISTINCT ON (camera_device_id, client_device_id) id
	FROM device_links WHERE status = 'active'
	ORDER BY camera_device_id, client_device_id, created_at DESC, id DESC);

CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email));

CREATE UNIQUE INDEX IF NOT EXISTS devices_token_hash_key ON devices (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_user_id_idx ON devices (user_id, id) WHERE deleted_at IS NULL;
-- Push tokens may be up to 4 KiB, past what a btree entry holds.
CREATE INDEX IF NOT EXISTS devices_push_token_idx ON devices USING hash (push_token);
CREATE INDEX IF NOT EXISTS devices_online_idx ON devices (id) WHERE status = 'online';

CREATE UNIQUE INDEX IF NOT EXISTS device_links_active_key ON device_links (camera_device_id, client_device_id) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS device_links_client_active_idx ON device_links (client_device_id) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS device_links_owner_idx ON device_links (owner_user_id, id);

CREATE UNIQUE INDEX IF NOT EXISTS commands_source_request_key ON commands (source_device_id, request_id);
CREATE INDEX IF NOT EXISTS commands_target_open_idx ON commands (target_device_id, created_at) WHERE status IN ('pending', 'dispatched');
CREATE INDEX IF NOT EXISTS commands_open_expires_idx ON commands (expires_at) WHERE status IN ('pending', 'dispatched');
CREATE INDEX IF NOT EXISTS commands_owner_idx ON commands (owner_user_id, id);

CREATE INDEX IF NOT EXISTS stream_sessions_owner_idx ON stream_sessions (owner_user_id, id);
CREATE INDEX IF NOT EXISTS stream_sessions_camera_idx ON stream_sessions (camera_device_id, id);
CREATE INDEX IF NOT EXISTS events_user_idx ON events (user_id, id);
CREATE INDEX IF NOT EXISTS events_device_idx ON events (device_id, id);
CREATE INDEX IF NOT EXISTS recordings_owner_idx ON recordings (owner_user_id, id);
CREATE INDEX IF NOT EXISTS notifications_user_idx ON notifications (user_id, id);
CREATE INDEX IF NOT EXISTS notification_deliveries_due_idx ON notification_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS notification_deliveries_recipient_idx ON notification_deliveries (recipient_device_id);

CREATE INDEX IF NOT EXISTS audit_logs_owner_idx ON audit_logs (owner_user_id, id);
CREATE INDEX IF NOT EXISTS account_user_id_idx ON account (user_id, provider_id);
CREATE INDEX IF NOT EXISTS session_user_id_idx ON session (user_id);
CREATE INDEX IF NOT EXISTS verification_identifier_idx ON verification (identifier);
