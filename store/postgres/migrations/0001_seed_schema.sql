-- The tables of the seed schema (database-schema-diagram.md), for a new database.
-- A database made by the original backend already has them: CREATE TABLE IF NOT EXISTS
-- leaves those alone, and 0002 adds what the hub needs to either.

CREATE TABLE IF NOT EXISTS users (
	id uuid PRIMARY KEY,
	email varchar NOT NULL,
	name varchar NOT NULL DEFAULT '',
	password_hash varchar,
	email_verified boolean NOT NULL DEFAULT false,
	image text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS devices (
	id uuid PRIMARY KEY,
	user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name varchar NOT NULL,
	role varchar NOT NULL,
	platform varchar NOT NULL,
	app_version varchar,
	push_token text,
	status varchar NOT NULL DEFAULT 'offline',
	is_camera boolean NOT NULL DEFAULT false,
	last_seen_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now(),
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS device_links (
	id uuid PRIMARY KEY,
	owner_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	camera_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	client_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	status varchar NOT NULL DEFAULT 'active',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS commands (
	id uuid PRIMARY KEY,
	owner_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	source_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	target_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	command_type varchar NOT NULL,
	payload jsonb NOT NULL DEFAULT '{}',
	status varchar NOT NULL DEFAULT 'pending',
	retry_count integer NOT NULL DEFAULT 0,
	last_dispatched_at timestamptz,
	acknowledged_at timestamptz,
	error text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS stream_sessions (
	id uuid PRIMARY KEY,
	owner_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	camera_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	requester_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	status varchar NOT NULL,
	reason varchar,
	media_provider varchar,
	media_session_id varchar,
	publish_endpoint text,
	subscribe_endpoint text,
	stream_key varchar,
	started_at timestamptz,
	ended_at timestamptz,
	metadata jsonb,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS events (
	id uuid PRIMARY KEY,
	user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id uuid REFERENCES devices (id) ON DELETE CASCADE,
	title varchar NOT NULL,
	triggered_by varchar NOT NULL,
	status varchar NOT NULL,
	started_at timestamptz,
	ended_at timestamptz,
	notified_at timestamptz,
	video_url varchar UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS recordings (
	id uuid PRIMARY KEY,
	owner_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	stream_session_id uuid REFERENCES stream_sessions (id) ON DELETE SET NULL,
	camera_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	requester_device_id uuid REFERENCES devices (id) ON DELETE SET NULL,
	event_id uuid REFERENCES events (id) ON DELETE SET NULL,
	object_key varchar,
	bucket varchar,
	duration_seconds integer,
	size_bytes integer,
	status varchar NOT NULL,
	available_at timestamptz,
	error text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS notifications (
	id uuid PRIMARY KEY,
	event_id uuid REFERENCES events (id) ON DELETE CASCADE,
	user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	sent_at timestamptz,
	channel varchar,
	status varchar,
	is_read boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS notification_deliveries (
	id uuid PRIMARY KEY,
	owner_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	recipient_device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	type varchar NOT NULL,
	payload jsonb,
	status varchar NOT NULL,
	attempts integer NOT NULL DEFAULT 0,
	last_error text,
	sent_at timestamptz,
	next_attempt_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS audit_logs (
	id uuid PRIMARY KEY,
	owner_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
	actor_device_id uuid REFERENCES devices (id) ON DELETE SET NULL,
	action varchar NOT NULL,
	target_type varchar,
	target_id varchar,
	metadata jsonb,
	ip_address text,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS account (
	id uuid PRIMARY KEY,
	user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	account_id text NOT NULL,
	provider_id text NOT NULL,
	access_token text,
	refresh_token text,
	access_token_expires_at timestamptz,
	refresh_token_expires_at timestamptz,
	id_token text,
	scope text,
	password text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS session (
	id uuid PRIMARY KEY,
	token text NOT NULL UNIQUE,
	user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	expires_at timestamptz NOT NULL,
	ip_address text,
	user_agent text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS verification (
	id uuid PRIMARY KEY,
	identifier text NOT NULL,
	value text NOT NULL,
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
