-- Server-side recording of relayed streams: what the hub records of each camera
-- (off | events | continuous).
ALTER TABLE devices ADD COLUMN IF NOT EXISTS recording_mode text NOT NULL DEFAULT 'events'
	CHECK (recording_mode IN ('off', 'events', 'continuous'));
