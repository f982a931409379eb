-- The seed schema (database-schema-diagram.md) plus the hub's additions, for SQLite.
-- Same tables and columns as on PostgreSQL: uuid, varchar and jsonb are TEXT, boolean
-- is INTEGER 0/1, and times are TEXT in UTC, fixed width with microseconds
-- ("2006-01-02T15:04:05.000000Z") so that text order is time order.

CREATE TABLE IF NOT EXISTS users (
	id TEXT PRIMARY KEY,
	email TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	password_hash TEXT,
	email_verified INTEGER NOT NULL DEFAULT 0,
	image TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS devices (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	role TEXT NOT NULL,
	platform TEXT NOT NULL,
	app_version TEXT,
	push_token TEXT,
	status TEXT NOT NULL DEFAULT 'offline',
	is_camera INTEGER NOT NULL DEFAULT 0,
	last_seen_at TEXT,
	updated_at TEXT NOT NULL,
	created_at TEXT NOT NULL,
	token_hash TEXT,
	deleted_at TEXT
) STRICT;

CREATE TABLE IF NOT EXISTS device_links (
	id TEXT PRIMARY KEY,
	owner_user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	camera_device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	client_device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	status TEXT NOT NULL DEFAULT 'active',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS commands (
	id TEXT PRIMARY KEY,
	owner_user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	source_device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	target_device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	command_type TEXT NOT NULL,
	payload TEXT NOT NULL DEFAULT '{}',
	status TEXT NOT NULL DEFAULT 'pending',
	retry_count INTEGER NOT NULL DEFAULT 0,
	last_dispatched_at TEXT,
	acknowledged_at TEXT,
	error TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	request_id TEXT,
	expires_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS stream_sessions (
	id TEXT PRIMARY KEY,
	owner_user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	camera_device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	requester_device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	status TEXT NOT NULL,
	reason TEXT,
	media_provider TEXT,
	media_session_id TEXT,
	publish_endpoint TEXT,
	subscribe_endpoint TEXT,
	stream_key TEXT,
	started_at TEXT,
	ended_at TEXT,
	metadata TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS events (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id TEXT REFERENCES devices (id) ON DELETE CASCADE,
	title TEXT NOT NULL,
	triggered_by TEXT NOT NULL,
	status TEXT NOT NULL,
	started_at TEXT,
	ended_at TEXT,
	notified_at TEXT,
	video_url TEXT UNIQUE,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS recordings (
	id TEXT PRIMARY KEY,
	owner_user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	stream_session_id TEXT REFERENCES stream_sessions (id) ON DELETE SET NULL,
	camera_device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	requester_device_id TEXT REFERENCES devices (id) ON DELETE SET NULL,
	event_id TEXT REFERENCES events (id) ON DELETE SET NULL,
	object_key TEXT,
	bucket TEXT,
	duration_seconds INTEGER,
	size_bytes INTEGER,
	status TEXT NOT NULL,
	available_at TEXT,
	error TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS notifications (
	id TEXT PRIMARY KEY,
	event_id TEXT REFERENCES events (id) ON DELETE CASCADE,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	sent_at TEXT,
	channel TEXT,
	status TEXT,
	is_read INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE IF NOT EXISTS notification_deliveries (
	id TEXT PRIMARY KEY,
	owner_user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	recipient_device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	type TEXT NOT NULL,
	payload TEXT,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error TEXT,
	sent_at TEXT,
	next_attempt_at TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	expires_at TEXT,
	claimed_by TEXT,
	claimed_until TEXT
) STRICT;

CREATE TABLE IF NOT EXISTS audit_logs (
	id TEXT PRIMARY KEY,
	owner_user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
	actor_device_id TEXT REFERENCES devices (id) ON DELETE SET NULL,
	action TEXT NOT NULL,
	target_type TEXT,
	target_id TEXT,
	metadata TEXT,
	ip_address TEXT,
	created_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS account (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	account_id TEXT NOT NULL,
	provider_id TEXT NOT NULL,
	access_token TEXT,
	refresh_token TEXT,
	access_token_expires_at TEXT,
	refresh_token_expires_at TEXT,
	id_token TEXT,
	scope TEXT,
	password TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS session (
	id TEXT PRIMARY KEY,
	token TEXT NOT NULL UNIQUE,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	expires_at TEXT NOT NULL,
	ip_address TEXT,
	user_agent TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS verification (
	id TEXT PRIMARY KEY,
	identifier TEXT NOT NULL,
	value TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email));

CREATE UNIQUE INDEX IF NOT EXISTS devices_token_hash_key ON devices (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_user_id_idx ON devices (user_id, id) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS devices_push_token_idx ON devices (push_token) WHERE push_token IS NOT NULL;
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
