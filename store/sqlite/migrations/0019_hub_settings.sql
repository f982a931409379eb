-- Values the hub makes once and every replica shares, by name: the VAPID key pair of
-- Web Push ("vapid"), generated on the first start unless configured.
CREATE TABLE IF NOT EXISTS hub_settings (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	created_at TEXT NOT NULL
);
