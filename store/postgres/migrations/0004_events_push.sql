-- Events, notifications, push jobs, recordings and retention (what the hub adds).

-- Recordings keep their declared content type (served back with the clip), and sizes
-- may pass 2 GiB when the upload limit is raised.
ALTER TABLE recordings ADD COLUMN IF NOT EXISTS content_type text;
ALTER TABLE recordings ALTER COLUMN size_bytes TYPE bigint;

-- Push jobs the original backend left pending have no expiry and a payload the hub
-- does not know: they are dropped. Every job the hub creates is due at a set time.
UPDATE notification_deliveries SET status = 'expired', updated_at = now()
WHERE status IN ('pending', 'sending') AND expires_at IS NULL;
UPDATE notification_deliveries SET next_attempt_at = created_at WHERE next_attempt_at IS NULL;

-- Named leases: one replica at a time runs a cluster-wide job (retention).
CREATE TABLE IF NOT EXISTS securecam_leases (
	name text PRIMARY KEY,
	holder text NOT NULL,
	expires_at timestamptz NOT NULL
);

-- The cooldown check: the newest notified event of a camera and trigger.
CREATE INDEX IF NOT EXISTS events_device_notified_idx ON events (device_id, triggered_by, notified_at) WHERE notified_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_created_idx ON events (created_at);
CREATE INDEX IF NOT EXISTS notifications_user_unread_idx ON notifications (user_id, id) WHERE is_read = false;
-- The wake rate limit: the newest job of a type for a device.
CREATE INDEX IF NOT EXISTS notification_deliveries_recipient_type_idx ON notification_deliveries (recipient_device_id, type, created_at);
CREATE INDEX IF NOT EXISTS notification_deliveries_finished_idx ON notification_deliveries (updated_at) WHERE status IN ('sent', 'failed', 'expired');
CREATE INDEX IF NOT EXISTS recordings_created_idx ON recordings (created_at);
CREATE INDEX IF NOT EXISTS recordings_camera_idx ON recordings (camera_device_id, id);
CREATE INDEX IF NOT EXISTS recordings_event_idx ON recordings (event_id);
CREATE INDEX IF NOT EXISTS commands_finished_idx ON commands (updated_at) WHERE status IN ('acknowledged', 'failed', 'expired');
CREATE INDEX IF NOT EXISTS stream_sessions_finished_idx ON stream_sessions (updated_at) WHERE status IN ('ended', 'failed');
CREATE INDEX IF NOT EXISTS audit_logs_created_idx ON audit_logs (created_at);
