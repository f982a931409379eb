-- Live view survives a signaling reconnect: while a party of a live session is away
-- (its socket dropped), the time it went away; cleared when it resumes the session.
-- A session whose party stays away past the resume grace period ends.
ALTER TABLE stream_sessions ADD COLUMN camera_away_at TEXT;
ALTER TABLE stream_sessions ADD COLUMN requester_away_at TEXT;
CREATE INDEX IF NOT EXISTS stream_sessions_open_away_idx ON stream_sessions (id)
	WHERE (camera_away_at IS NOT NULL OR requester_away_at IS NOT NULL)
	  AND status IN ('requested', 'waking', 'accepted', 'connecting', 'live');
