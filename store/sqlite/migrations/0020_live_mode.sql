-- Live mode per camera: how viewers of the socket flow watch it (p2p | relay | auto).
ALTER TABLE devices ADD COLUMN live_mode TEXT NOT NULL DEFAULT 'auto'
	CHECK (live_mode IN ('p2p', 'relay', 'auto'));
