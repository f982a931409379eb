-- Recordings on object storage: the reconcile pass and `securecam migrate-blobs` walk
-- the recordings of one bucket in the byte order of their object keys (SQLite compares
-- text as bytes), the order S3 lists objects in. A recording without a bucket counts as
-- in the data directory's, 'local'.
CREATE INDEX IF NOT EXISTS recordings_object_idx ON recordings (COALESCE(bucket, 'local'), object_key)
	WHERE object_key IS NOT NULL;
