-- Live view: find a device's open stream sessions (either side) and the sessions that
-- waited too long in a status, without scanning the ended ones.
CREATE INDEX IF NOT EXISTS stream_sessions_open_camera_idx ON stream_sessions (camera_device_id)
	WHERE status IN ('requested', 'waking', 'accepted', 'connecting', 'live');
CREATE INDEX IF NOT EXISTS stream_sessions_open_requester_idx ON stream_sessions (requester_device_id)
	WHERE status IN ('requested', 'waking', 'accepted', 'connecting', 'live');
CREATE INDEX IF NOT EXISTS stream_sessions_open_updated_idx ON stream_sessions (status, updated_at)
	WHERE status IN ('requested', 'waking', 'accepted', 'connecting', 'live');
